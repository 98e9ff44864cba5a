from django.contrib import admin
from django.urls import path

from dashboard import views

admin.site.site_header = "proxmon administration"
admin.site.site_title = "proxmon"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("", views.overview, name="overview"),
]
