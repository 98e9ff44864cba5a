"""The guest index: where every guest runs, with what it is found by (name, IPs, MACs, tags).

Kept current at ingest (metrics/ingest.py) so the search never reads samples: the fast tier
brings every guest's runtime facts, the medium tier its configuration.
"""

from __future__ import annotations

import operator
import sys

import msgspec
from django.db import connection
from django.utils import timezone

from metrics.models import Guest

RUNTIME_FIELDS = ("type", "name", "status", "template", "cpus", "maxmem")
_RUNTIME = operator.itemgetter("vmid", "type", "name", "status", "cpus", "maxmem")


def index_runtime(
    host_id: int, guests: list[dict], existing: dict[int, tuple] | None
) -> dict[int, tuple]:
    """The fast tier lists every guest: add new ones, update changed ones, drop those gone.

    `existing` is what the index holds for the host (None: read it). Returns what it holds now.
    """
    if existing is None:
        # Only the compared columns are read: this runs for every fast sample of every host.
        existing = {
            vmid: held(*values)
            for vmid, *values in Guest.objects.filter(host_id=host_id).values_list(
                "vmid", *RUNTIME_FIELDS
            )
        }
    now: dict[int, tuple] = {}
    changed: dict[int, dict] = {}
    for item in guests:
        # a tuple in RUNTIME_FIELDS order, compared with what the index holds; a dict only for
        # the few that changed (this loop runs for 50 guests of every fast sample).
        vmid, kind, name, status, cpus, maxmem = _RUNTIME(item)
        values = (kind, name[:255], status[:32], bool(item.get("template", False)), cpus, maxmem)
        before = existing.get(vmid)
        if before == values:
            now[vmid] = before  # what the memo holds already, its words shared
            continue
        now[vmid] = values = held(*values)
        changed[vmid] = dict(zip(RUNTIME_FIELDS, values, strict=True))
    if changed:
        # One read for all changed guests, and the new ones in one insert (a new host's first
        # sample brings all of its guests at once).
        rows = {g.vmid: g for g in Guest.objects.filter(host_id=host_id, vmid__in=list(changed))}
        new = []
        for vmid, fields in changed.items():
            if vmid in rows:
                _filled(rows[vmid], fields).save()
            else:
                new.append(_filled(Guest(host_id=host_id, vmid=vmid), fields))
        Guest.objects.bulk_create(new)
    gone = [vmid for vmid in existing if vmid not in now]
    if gone:
        Guest.objects.filter(host_id=host_id, vmid__in=gone).delete()
    return now


def held(kind: str, name: str, status: str, *rest) -> tuple:
    """A guest's RUNTIME_FIELDS as the index holds them to compare (in the connection's memo,
    metrics/memo.py): the type and state are a handful of words that every guest repeats,
    held once (5,000 hosts' 50 guests: ~25 MB less). An unchanged guest keeps its tuple."""
    return (sys.intern(kind), name, sys.intern(status), *rest)


CONFIG_FIELDS = ("name", "cores", "memory", "ips", "macs", "tags", "os")
JSON_FIELDS = ("ips", "macs", "tags")


def index_configs(host_id: int, configs: list[dict]) -> bool:
    """Config facts (IPs, MACs, tags, ...) into the guest index; True if a row changed.

    Only the compared columns are read, and whole rows only for the guests that changed: most
    medium samples change nothing, and at a restart 5,000 hosts' first ones arrive at once
    (decoding 50 guests' JSON columns through the ORM was a tenth of the process then, and
    encoding the sample's values to compare them as JSON text still 3 %: docs/benchmarks.md).
    """
    existing = _held_configs(host_id)
    changed: dict[int, dict] = {}
    for item in configs:
        held = existing.get(item["vmid"])
        values = {
            "name": item["name"][:255] or (held[0] if held else ""),
            "cores": item["cores"],
            "memory": item["memory"],
            "ips": item["ips"],
            "macs": [mac.lower() for mac in item["macs"]],
            "tags": item["tags"],
            "os": (item["os"] or "")[:64],
        }
        if held is None:
            values["type"] = item["type"]
        elif tuple(values[name] for name in CONFIG_FIELDS) == held:
            continue
        changed[item["vmid"]] = values
    if changed:
        rows = {g.vmid: g for g in Guest.objects.filter(host_id=host_id, vmid__in=list(changed))}
        for vmid, values in changed.items():
            _save(host_id, rows.get(vmid), vmid, values)
    return bool(changed)


def _held_configs(host_id: int) -> dict[int, tuple]:
    """vmid -> the CONFIG_FIELDS the index holds (SQLite hands JSON columns over as their
    text, decoded here by msgspec; PostgreSQL's driver decodes jsonb itself)."""
    columns = ", ".join(CONFIG_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT vmid, {columns} FROM {Guest._meta.db_table} WHERE host_id = %s", [host_id]
        )
        rows = cursor.fetchall()
    return {
        row[0]: tuple(
            _json_value(value) if name in JSON_FIELDS else value
            for name, value in zip(CONFIG_FIELDS, row[1:], strict=True)
        )
        for row in rows
    }


def _json_value(value):
    return msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value


def _save(host_id: int, guest: Guest | None, vmid: int, values: dict) -> None:
    _filled(guest or Guest(host_id=host_id, vmid=vmid), values).save()


def _filled(guest: Guest, values: dict) -> Guest:
    for key, value in values.items():
        setattr(guest, key, value)
    guest.updated_at = timezone.now()
    guest.search_text = guest.index_text()
    return guest
