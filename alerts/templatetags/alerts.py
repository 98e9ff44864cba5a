"""The host page's alert section: `{% load alerts %}{% host_alerts host %}`."""

from __future__ import annotations

from django import template
from django.utils import timezone

from alerts.models import Alert, Silence

register = template.Library()


@register.inclusion_tag("alerts/_host_alerts.html", takes_context=True)
def host_alerts(context, host) -> dict:
    now = timezone.now()
    return {
        "host": host,
        "alerts": Alert.objects.filter(
            host=host, state__in=[Alert.State.FIRING, Alert.State.PENDING]
        ).order_by("state", "level", "since"),
        "silences": Silence.objects.active(now).filter(host=host).order_by("until"),
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
    }
