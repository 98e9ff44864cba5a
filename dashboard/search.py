"""The guest search: one box for a name, IP, MAC, VMID or tag, answered from the guest index."""

from __future__ import annotations

import ipaddress
import re

from django.db.models import Q, QuerySet

from metrics.models import Guest

MAX_QUERY = 100
MAX_RESULTS = 200

MAC = re.compile(r"^([0-9a-f]{2}[:-]){2,5}[0-9a-f]{0,2}$")
IPV4_PREFIX = re.compile(r"^\d{1,3}(\.\d{0,3}){1,3}$")


def classify(query: str) -> str:
    """ "ip", "mac", "vmid", "tag" or "name": what the operator most likely typed."""
    if query.startswith(("tag:", "#")):
        return "tag"
    if query.isdigit():
        return "vmid"
    if MAC.match(query):
        return "mac"
    if IPV4_PREFIX.match(query):
        return "ip"
    if ":" in query:
        try:
            ipaddress.IPv6Address(query)
            return "ip"
        except ValueError:
            pass
        if re.fullmatch(r"[0-9a-f:]+", query) and query.count(":") >= 2:
            return "ip"  # an IPv6 prefix
    return "name"


def normalise(raw: str) -> str:
    return " ".join(raw.split())[:MAX_QUERY].lower()


def guests(query: str) -> tuple[str, QuerySet[Guest]]:
    """The mode and the matching guests (best matches first)."""
    mode = classify(query)
    if mode == "tag":
        tag = query.split(":", 1)[1] if query.startswith("tag:") else query[1:]
        condition = Q(search_text__contains=f" #{tag} ")
    elif mode == "vmid":
        condition = Q(vmid=int(query)) if len(query) < 10 else Q(pk__in=[])
        condition |= Q(name__icontains=query)
    elif mode == "mac":
        condition = Q(search_text__contains=" " + query.replace("-", ":"))
    elif mode == "ip":
        condition = Q(search_text__contains=f" {query}")
    else:
        condition = Q(name__icontains=query) | Q(search_text__contains=f" #{query} ")
    found = (
        Guest.objects.filter(condition)
        .select_related("host")
        .only(
            "vmid",
            "type",
            "name",
            "status",
            "template",
            "ips",
            "macs",
            "tags",
            "cores",
            "memory",
            "maxmem",
            "cpus",
            "host__name",
            "host__status",
        )
        .order_by("name", "host__name", "vmid")
    )
    return mode, found
