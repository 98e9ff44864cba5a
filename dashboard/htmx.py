"""The request type of views that read `request.htmx` (set by django_htmx's middleware), so
that mypy knows the attribute (django-htmx's documented way)."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
