"""The one-line install's downloads (hosts/downloads.py): public, under /agent/."""

from django.urls import path

from hosts import downloads

urlpatterns = [
    path(downloads.BINARY_NAME, downloads.binary, name="agent-binary"),
    path(downloads.UNIT_NAME, downloads.unit, name="agent-unit"),
    path(downloads.SUMS_NAME, downloads.sums, name="agent-sums"),
]
