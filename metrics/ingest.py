"""Storing validated samples, and keeping what is derived from them current.

Everything a sample changes happens in one transaction: the sample, the latest state of its
tier, the guest index and the host's own fields. The caller acks only after it returns.
metrics/writer.py stores the samples of many connections in one transaction (group commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.db import transaction

from hosts.models import Host
from metrics import codec, guestindex, signals, summary
from metrics.decode import SampleFrame, sample_frame
from metrics.memo import (
    KEYFRAME_EVERY,
    Memo,
    facts_json,
    facts_of,
    keyframe_text,
    read_facts,
    remember_keyframe,
)
from metrics.models import HostSummary, Keyframe, LatestSample, MetricPoint, Sample
from metrics.rawsql import execute as _execute
from metrics.rawsql import json_text as _json_text
from metrics.rawsql import prep as _prep
from metrics.scan import may_hold_nul

# A latest sample from further in the future than this (a clock that was wrong and has been
# corrected) no longer blocks newer samples from becoming the latest.
FUTURE_TOLERANCE = timedelta(seconds=60)


class TokenRevoked(Exception):
    """The host's token changed (or the host is gone) since this connection joined."""


@dataclass
class Stored:
    created: bool  # False: a duplicate of a sample already stored
    latest: bool  # it became the latest sample of its tier


@dataclass
class Pending:
    """One valid sample frame waiting to be stored (the arguments of `ingest`)."""

    host_id: int
    token_hash: str
    frame: SampleFrame | dict[str, Any]
    received_at: datetime
    clock_skew_s: float | None
    memo: Memo | None = None


def ingest(
    host_id: int,
    token_hash: str,
    frame: SampleFrame | dict[str, Any],
    received_at: datetime,
    clock_skew_s: float | None,
    memo: Memo | None = None,
    savepoint: bool = True,
) -> Stored:
    """Store a valid sample frame (metrics/decode.py) for the host that joined with
    `token_hash`. What is stored is `frame.text`, the frame's own bytes, compressed. A dict
    (tests, benchmarks) is read as the JSON an agent would send (ValueError if not valid).

    Raises TokenRevoked, without storing, when the host's token is no longer `token_hash`.
    `clock_skew_s`, when measured, is recorded on the host. `memo` is the connection's record
    of what its earlier samples stored (see Memo); without one everything is read back.
    `savepoint=False` inside a caller's transaction: if this raises, the caller rolls back
    (metrics.writer.each_in_one_transaction does).

    The statements that run for every sample are plain SQL: building them through the ORM
    cost more than running them (bench/ingest.py).
    """
    memo = memo if memo is not None else Memo()
    if not isinstance(frame, SampleFrame):
        frame = sample_frame(frame)
    tier, collected_at, data, errors = frame.tier, frame.collected_at, frame.data, frame.errors
    learned = Memo(guests=memo.guests, facts=memo.facts, kernel_known=memo.kernel_known)
    with transaction.atomic(savepoint=savepoint):
        # The token check and the host's own update in one statement; on PostgreSQL it also
        # locks the host row until commit, so a revoke cannot slip in between.
        if clock_skew_s is None:
            seen = _execute(HOST_SEEN, _prep(Host, last_seen_at=received_at), host_id, token_hash)
        else:
            values = _prep(Host, last_seen_at=received_at, clock_skew_s=clock_skew_s)
            seen = _execute(HOST_SEEN_SKEW, values, host_id, token_hash)
        if not seen:
            raise TokenRevoked
        text = frame.text
        if may_hold_nul(text):  # stored as sent; what is derived from it goes without
            data, errors = _without_nul(data), _without_nul(errors)
        stored = _store_sample(host_id, tier, collected_at, received_at, text, memo, learned)
        created = stored is not None
        if created and tier == "fast" and "host" in data:
            _add_metric_point(host_id, collected_at, data["host"])
        latest = stored is not None and _update_latest(
            host_id, tier, collected_at, received_at, stored, errors, memo, learned
        )
        if latest:
            _update_derived(host_id, data, memo, learned)
            facts = _update_summary(
                host_id, tier, data, errors, collected_at, received_at, memo, learned
            )
            # alerts evaluate here, in this transaction (metrics.signals)
            signals.facts_changed.send(
                HostSummary,
                host_id=host_id,
                facts=facts,
                now=received_at,
                clock_skew_s=clock_skew_s,
            )
        # The connection's memo changes only once this is committed: rolled back, the
        # database is as the memo says.
        transaction.on_commit(lambda: memo.update(learned))
    return Stored(created=created, latest=latest)


def _without_nul(value: Any) -> Any:
    """The value with NUL characters taken out of every string, keys included.

    PostgreSQL's text and jsonb columns cannot hold NUL, which JSON may carry as \\u0000: a
    name with one would fail every time it was stored, and the agent would resend it forever.
    The sample itself is stored as sent (compressed bytes); the rows derived from it (latest
    errors, summary, guest index, versions) get the names without NUL, on every engine alike.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


HOST_SEEN = f"UPDATE {Host._meta.db_table} SET last_seen_at = %s WHERE id = %s AND token_hash = %s"
HOST_SEEN_SKEW = (
    f"UPDATE {Host._meta.db_table} SET last_seen_at = %s, clock_skew_s = %s"
    " WHERE id = %s AND token_hash = %s"
)
UPDATE_LATEST = (
    f"UPDATE {LatestSample._meta.db_table}"
    " SET collected_at = %s, received_at = %s, keyframe_id = %s, body = %s, errors = %s"
    " WHERE host_id = %s AND tier = %s"
)
INSERT_POINT = (
    f"INSERT INTO {MetricPoint._meta.db_table}"
    " (collected_at, cpu_percent, mem_used, mem_total, load1, load5, load15, host_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
UPDATE_SUMMARY = (
    f"UPDATE {HostSummary._meta.db_table} SET facts = %s, updated_at = %s WHERE host_id = %s"
)


def _store_sample(
    host_id: int,
    tier: str,
    collected_at: datetime,
    received_at: datetime,
    text: bytes,
    memo: Memo,
    learned: Memo,
) -> tuple[int, bytes] | None:
    """Store the sample compressed against its hour's keyframe: (the keyframe's id, the
    compressed bytes) for the latest row to hold the same, or None if it was there already."""
    current = memo.keyframes.get(tier) or (
        Keyframe.objects.filter(host_id=host_id, tier=tier)
        .order_by("-created_at")
        .values_list("id", "created_at")
        .first()
    )
    if current is None or received_at - current[1] >= KEYFRAME_EVERY:
        keyframe = Keyframe.objects.create(
            host_id=host_id, tier=tier, created_at=received_at, data=codec.compress(text)
        )
        remember_keyframe(keyframe.pk, text)
        current, dictionary = (keyframe.pk, received_at), text
    else:
        dictionary = keyframe_text(current[0])
    learned.keyframes[tier] = current
    body = codec.compress(text, dictionary)
    created = _insert_sample(host_id, tier, collected_at, received_at, current[0], body)
    return (current[0], body) if created else None


def _insert_sample(
    host_id: int,
    tier: str,
    collected_at: datetime,
    received_at: datetime,
    keyframe_id: int,
    body: bytes,
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL): True if the row is new.

    A duplicate (host, tier, collected_at) is a resent sample: stored once, acked again.
    Plain SQL because a savepoint around Model.create() costs more than the insert itself.
    """
    values = _prep(Sample, tier=tier, collected_at=collected_at, received_at=received_at, body=body)
    return _execute(INSERT_SAMPLE, values, host_id, keyframe_id) == 1


INSERT_SAMPLE = (
    f"INSERT INTO {Sample._meta.db_table}"
    " (tier, collected_at, received_at, body, host_id, keyframe_id)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (host_id, tier, collected_at) DO NOTHING"
)


def _update_latest(
    host_id: int,
    tier: str,
    collected_at: datetime,
    received_at: datetime,
    stored: tuple[int, bytes],
    errors: dict,
    memo: Memo,
    learned: Memo,
) -> bool:
    # Only the time of the current latest is read: decoding its data would cost as much as
    # storing the new one. The row holds the sample's bytes as its Sample row does (compressed
    # against the keyframe): compressed alone, it cost as much zstd again as the sample.
    keyframe_id, body = stored
    current_at = memo.latest.get(tier)
    if current_at is None:
        current_at = (
            LatestSample.objects.filter(host_id=host_id, tier=tier)
            .values_list("collected_at", flat=True)
            .first()
        )
    if current_at is None:
        LatestSample.objects.create(
            host_id=host_id,
            tier=tier,
            collected_at=collected_at,
            received_at=received_at,
            keyframe_id=keyframe_id,
            body=body,
            errors=errors,
        )
        learned.latest[tier] = collected_at
        return True
    newer = collected_at > current_at
    current_from_future = current_at > received_at + FUTURE_TOLERANCE
    if not (newer or current_from_future):
        learned.latest[tier] = current_at
        return False  # an older sample, resent after a reconnect
    values = _prep(
        LatestSample,
        collected_at=collected_at,
        received_at=received_at,
        keyframe_id=keyframe_id,
        body=body,
        errors=errors,
    )
    _execute(UPDATE_LATEST, values, host_id, tier)
    learned.latest[tier] = collected_at
    return True


def _add_metric_point(host_id: int, collected_at: datetime, metrics: dict) -> None:
    load = metrics["load"]
    values = _prep(
        MetricPoint,
        collected_at=collected_at,
        cpu_percent=metrics["cpu_percent"],
        mem_used=metrics["mem"]["used"],
        mem_total=metrics["mem"]["total"],
        load1=load[0],
        load5=load[1],
        load15=load[2],
    )
    _execute(INSERT_POINT, values, host_id)


def _update_summary(
    host_id: int,
    tier: str,
    data: dict,
    errors: dict,
    collected_at: datetime,
    received_at: datetime,
    memo: Memo,
    learned: Memo,
) -> dict[str, Any]:
    """Write the host's summary row with this sample's compact facts; all its facts."""
    texts = memo.facts
    if texts is None:
        texts = read_facts([host_id]).get(host_id)
        if texts is None:  # a new host (get_or_create: another process may create it too)
            HostSummary.objects.get_or_create(host_id=host_id)
            texts = read_facts([host_id])[host_id]
    previous = texts.get(tier)
    compact = summary.compact(
        tier,
        data,
        errors,
        collected_at,
        received_at,
        previous=None if previous is None else msgspec.json.decode(previous),
    )
    texts = {**texts, tier: msgspec.json.encode(compact)}
    updated_at = _prep(HostSummary, updated_at=received_at)
    _execute(UPDATE_SUMMARY, [_json_text(facts_json(texts)), *updated_at], host_id)
    learned.facts = texts
    return {**facts_of({t: text for t, text in texts.items() if t != tier}), tier: compact}


def _update_derived(host_id: int, data: dict, memo: Memo, learned: Memo) -> None:
    if "system" in data:
        system = data["system"]
        versions = {
            field: system[field][: 64 if field != "kernel" else 128]
            for field in ("pve_version", "zfs_version", "kernel", "agent_version")
            if system.get(field)
        }
        if versions:
            Host.objects.filter(pk=host_id).update(**versions)
            learned.kernel_known = learned.kernel_known or "kernel" in versions
    if "host" in data and not memo.kernel_known:
        # Until the slow tier says, the kernel comes from the fast tier's host metrics.
        Host.objects.filter(pk=host_id, kernel="").update(kernel=data["host"]["kernel"][:128])
        learned.kernel_known = True
    if "guests" in data:
        learned.guests = guestindex.index_runtime(host_id, data["guests"], memo.guests)
    if "guest_configs" in data and guestindex.index_configs(host_id, data["guest_configs"]):
        learned.guests = None  # names may have changed: read the index again
