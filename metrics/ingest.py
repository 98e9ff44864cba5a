"""Storing one validated sample, and keeping what is derived from it current.

Everything happens in one transaction: the sample, the latest state of its tier, the guest
index and the host's own fields. The caller acks only after it returns.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts.models import Host
from metrics import codec, summary
from metrics.models import Guest, HostSummary, Keyframe, LatestSample, MetricPoint, Sample
from metrics.schema import parse_time

# Samples are compressed against a keyframe of their host and tier that is at most this old.
KEYFRAME_EVERY = timedelta(hours=1)
# A latest sample from further in the future than this (a clock that was wrong and has been
# corrected) no longer blocks newer samples from becoming the latest.
FUTURE_TOLERANCE = timedelta(seconds=60)


class TokenRevoked(Exception):
    """The host's token changed (or the host is gone) since this connection joined."""


@dataclass
class Stored:
    created: bool  # False: a duplicate of a sample already stored
    latest: bool  # it became the latest sample of its tier


def ingest(
    host_id: int,
    token_hash: str,
    frame: dict[str, Any],
    received_at: datetime,
    clock_skew_s: float | None,
) -> Stored:
    """Store a valid sample frame for the host that joined with `token_hash`.

    Raises TokenRevoked, without storing, when the host's token is no longer `token_hash`.
    `clock_skew_s`, when measured, is recorded on the host.
    """
    tier = frame["tier"]
    collected_at = parse_time(frame["collected_at"], "collected_at")
    data = frame["data"]
    errors = frame.get("errors") or {}
    with transaction.atomic():
        host = Host.objects.select_for_update().filter(pk=host_id).first()
        if host is None or host.token_hash != token_hash:
            raise TokenRevoked
        text = codec.dumps({"data": data, "errors": errors})
        created = _store_sample(host_id, tier, collected_at, received_at, text)

        if created and tier == "fast" and "host" in data:
            _add_metric_point(host_id, collected_at, data["host"])
        latest = created and _update_latest(host, tier, collected_at, received_at, text, errors)
        if latest:
            _update_derived(host, tier, data)
            _update_summary(host, tier, data, errors, collected_at, received_at)
        host.last_seen_at = received_at
        if clock_skew_s is not None:
            host.clock_skew_s = clock_skew_s
        host.save(
            update_fields=[
                "last_seen_at",
                "clock_skew_s",
                "pve_version",
                "zfs_version",
                "kernel",
                "agent_version",
            ]
        )
    return Stored(created=created, latest=latest)


def _store_sample(
    host_id: int, tier: str, collected_at: datetime, received_at: datetime, text: bytes
) -> bool:
    """Store the sample compressed against its hour's keyframe; False if it was there already."""
    current = (
        Keyframe.objects.filter(host_id=host_id, tier=tier)
        .order_by("-created_at")
        .values_list("id", "created_at")
        .first()
    )
    if current is None or received_at - current[1] >= KEYFRAME_EVERY:
        keyframe = Keyframe.objects.create(
            host_id=host_id, tier=tier, created_at=received_at, data=codec.compress(text)
        )
        _keyframe_texts[keyframe.pk] = text
        keyframe_id, dictionary = keyframe.pk, text
    else:
        keyframe_id, dictionary = current[0], _keyframe_text(current[0])
    try:
        with transaction.atomic():
            Sample.objects.create(
                host_id=host_id,
                tier=tier,
                collected_at=collected_at,
                received_at=received_at,
                keyframe_id=keyframe_id,
                body=codec.compress(text, dictionary),
            )
    except IntegrityError:
        return False
    return True


# The JSON text of recent keyframes by id, so most samples need no extra read to compress.
_keyframe_texts: OrderedDict[int, bytes] = OrderedDict()
KEYFRAME_CACHE = 512


def _keyframe_text(keyframe_id: int) -> bytes:
    text = _keyframe_texts.get(keyframe_id)
    if text is None:
        stored = Keyframe.objects.values_list("data", flat=True).get(pk=keyframe_id)
        text = codec.decompress(bytes(stored))
    _keyframe_texts[keyframe_id] = text
    _keyframe_texts.move_to_end(keyframe_id)
    while len(_keyframe_texts) > KEYFRAME_CACHE:
        _keyframe_texts.popitem(last=False)
    return text


def _update_latest(
    host: Host,
    tier: str,
    collected_at: datetime,
    received_at: datetime,
    text: bytes,
    errors: dict,
) -> bool:
    # Only the time of the current latest is read: decoding its data would cost as much as
    # storing the new one.
    current = (
        LatestSample.objects.filter(host=host, tier=tier).values_list("id", "collected_at").first()
    )
    if current is None:
        LatestSample.objects.create(
            host=host,
            tier=tier,
            collected_at=collected_at,
            received_at=received_at,
            body=codec.compress(text),
            errors=errors,
        )
        return True
    current_id, current_at = current
    newer = collected_at > current_at
    current_from_future = current_at > received_at + FUTURE_TOLERANCE
    if not (newer or current_from_future):
        return False  # an older sample, resent after a reconnect
    LatestSample.objects.filter(id=current_id).update(
        collected_at=collected_at,
        received_at=received_at,
        body=codec.compress(text),
        errors=errors,
    )
    return True


def _add_metric_point(host_id: int, collected_at: datetime, metrics: dict) -> None:
    load = metrics["load"]
    MetricPoint.objects.create(
        host_id=host_id,
        collected_at=collected_at,
        cpu_percent=metrics["cpu_percent"],
        mem_used=metrics["mem"]["used"],
        mem_total=metrics["mem"]["total"],
        load1=load[0],
        load5=load[1],
        load15=load[2],
    )


def _update_summary(
    host: Host,
    tier: str,
    data: dict,
    errors: dict,
    collected_at: datetime,
    received_at: datetime,
) -> None:
    row, _ = HostSummary.objects.get_or_create(host=host)
    row.facts[tier] = summary.compact(
        tier, data, errors, collected_at, received_at, previous=row.facts.get(tier)
    )
    row.updated_at = received_at
    row.save()


def _update_derived(host: Host, tier: str, data: dict) -> None:
    if "system" in data:
        system = data["system"]
        for field in ("pve_version", "zfs_version", "kernel", "agent_version"):
            if system.get(field):
                setattr(host, field, system[field][: 64 if field != "kernel" else 128])
    if "host" in data and not host.kernel:
        host.kernel = data["host"]["kernel"][:128]
    if "guests" in data:
        _index_guest_runtime(host, data["guests"])
    if "guest_configs" in data:
        _index_guest_configs(host, data["guest_configs"])


RUNTIME_FIELDS = ("type", "name", "status", "template", "cpus", "maxmem")


def _index_guest_runtime(host: Host, guests: list[dict]) -> None:
    """The fast tier lists every guest: add new ones, update changed ones, drop those gone."""
    # Only the compared columns are read: this runs for every fast sample of every host.
    existing = {
        row[0]: row[1:]
        for row in Guest.objects.filter(host=host).values_list("vmid", *RUNTIME_FIELDS)
    }
    seen = set()
    for item in guests:
        vmid = item["vmid"]
        seen.add(vmid)
        values = {
            "type": item["type"],
            "name": item["name"][:255],
            "status": item["status"][:32],
            "template": bool(item.get("template", False)),
            "cpus": item["cpus"],
            "maxmem": item["maxmem"],
        }
        if existing.get(vmid) != tuple(values[k] for k in RUNTIME_FIELDS):
            _save(host, Guest.objects.filter(host=host, vmid=vmid).first(), vmid, values)
    gone = [vmid for vmid in existing if vmid not in seen]
    if gone:
        Guest.objects.filter(host=host, vmid__in=gone).delete()


def _index_guest_configs(host: Host, configs: list[dict]) -> None:
    existing = {g.vmid: g for g in Guest.objects.filter(host=host)}
    for item in configs:
        guest = existing.get(item["vmid"])
        values = {
            "name": item["name"][:255] or (guest.name if guest else ""),
            "cores": item["cores"],
            "memory": item["memory"],
            "ips": item["ips"],
            "macs": [mac.lower() for mac in item["macs"]],
            "tags": item["tags"],
            "os": (item["os"] or "")[:64],
        }
        if guest is None:
            values["type"] = item["type"]
        elif all(getattr(guest, k) == v for k, v in values.items()):
            continue  # most medium samples change nothing in the index
        _save(host, guest, item["vmid"], values)


def _save(host: Host, guest: Guest | None, vmid: int, values: dict) -> None:
    guest = guest or Guest(host=host, vmid=vmid)
    for key, value in values.items():
        setattr(guest, key, value)
    guest.updated_at = timezone.now()
    guest.search_text = guest.index_text()
    guest.save()
