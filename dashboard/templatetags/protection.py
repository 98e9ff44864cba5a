"""Backups and replication in templates.

`{% load protection %}{% host_protection facts %}`: the host page's Backups and Replication
sections (dashboard/protection.py), from the facts the page already has.
`{% backup_ages results as ages %}` and `{{ g|backup_of:ages }}`: the newest backup of each guest
of a search result, one query for all of them.
"""

from __future__ import annotations

from django import template
from django.utils import timezone

from dashboard import protection
from metrics.models import HostSummary
from metrics.status import Thresholds

register = template.Library()


@register.inclusion_tag("dashboard/_protection.html")
def host_protection(facts: dict) -> dict:
    return protection.host_sections(facts or {}, timezone.now(), Thresholds.from_settings())


@register.simple_tag
def backup_ages(results) -> dict:
    """{(host id, vmid): the guest's backups entry} for the guests of a search result."""
    hosts = {guest.host_id for guest in results}
    found: dict = {}
    for host_id, facts in HostSummary.objects.filter(host_id__in=hosts).values_list(
        "host_id", "facts"
    ):
        for entry in ((facts.get("medium") or {}).get("backups") or {}).get("guests") or []:
            found[(host_id, entry["vmid"])] = entry
    return found


@register.filter
def backup_of(guest, ages: dict):
    return (ages or {}).get((guest.host_id, guest.vmid))
