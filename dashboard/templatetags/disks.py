"""`{% load disks %}{% host_disks facts pools %}`: the host page's Disks section; it also marks
each vdev of `pools` that is a disk with that disk's SMART state (`vdev.disk`), so place it
before the pools are drawn when the tree should show it (dashboard/disks.py)."""

from __future__ import annotations

from django import template

from dashboard import disks

register = template.Library()


@register.inclusion_tag("dashboard/_disks.html")
def host_disks(facts: dict, pools: list) -> dict:
    reported = "disks" in ((facts or {}).get("slow") or {})
    return {"disks": disks.rows(facts or {}, pools or []), "reported": reported}


@register.simple_tag
def mark_disks(facts: dict, pools: list) -> str:
    """Annotate the vdev trees only (nothing printed)."""
    disks.rows(facts or {}, pools or [])
    return ""
