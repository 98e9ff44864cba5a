"""History beyond the raw samples: 5-minute and hourly rollups, built from new samples.

A background pass (`roll_up`, run by the server's background thread every
PROXMON_HISTORY_INTERVAL_S) reads the fast samples stored since its last run, in id order and in
chunks, decodes each once, and merges its numbers into the buckets of its `collected_at`: a
5-minute row and an hourly row of its host (metrics.models.Rollup). The hot path of ingest does
nothing for history.

- Late samples (an agent's backlog after an outage) are new rows like any other: they land in
  the buckets of their own time, however old.
- A resent sample is not stored twice (Sample's unique constraint), and each stored sample is
  read once: the pass claims its range of ids by moving `RollupState.last_id` from the value it
  read to the new one in the same transaction as its writes. Two processes running the pass at
  once: one claim fails and its writes are rolled back.
- On PostgreSQL ids are handed out in insert order but become visible in commit order, so the
  pass reads only up to the newest sample received PROXMON_HISTORY_SETTLE_S (60 s) ago: a
  transaction still open after that would be one of ingest's batches, which take milliseconds.
  (SQLite writes one transaction at a time: every id up to the newest is committed.)
- Retention (liveness.prune) deletes only samples at or below `last_id`: nothing is pruned
  before it is rolled up.

Format of a row (zstd of orjson, `decode` reads it): every value is an aggregate [count, average,
maximum] of the samples that had it, merged exactly (count-weighted average); None when no
sample had it.

    data = {"host": [cpu, load, mem, mem_total, rootfs, rootfs_total],
            "pools": {name: [allocated, size, fragmentation, read, write, checksum, data_errors]},
            "storage": {name: [used, total]}}
    guests = {vmid: [cpu, mem]}         # hourly rows only, zstd-compressed

cpu and fragmentation are percentages, load the 1-minute load, the rest bytes or error counts.
Averages of byte values are rounded to whole bytes, of percentages and load to 3 decimals.
`data` was plain orjson before it was compressed (it took 750 bytes a row instead of 320,
docs/benchmarks.md "History"): `decode` still reads such a row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
import zstandard
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hosts.models import Host
from metrics import codec, rollupview
from metrics.models import Keyframe, Rollup, RollupState, Sample

log = logging.getLogger(__name__)

FIVE_MINUTES, HOUR = 300, 3600
STEPS = (FIVE_MINUTES, HOUR)
HOST_FIELDS = ("cpu", "load", "mem", "mem_total", "rootfs", "rootfs_total")
POOL_FIELDS = ("allocated", "size", "fragmentation", "read", "write", "checksum", "data_errors")
STORAGE_FIELDS = ("used", "total")
GUEST_FIELDS = ("cpu", "mem")
# fields whose average is a fraction (rounded to 3 decimals); the others are whole numbers
FRACTIONAL = {"cpu", "load", "fragmentation"}

Agg = list | None  # [count, average, maximum]


def aggregate(value: float | None) -> Agg:
    return None if value is None else [1, value, value]


def merge(a: Agg, b: Agg) -> Agg:
    """Two aggregates of disjoint sets of samples as one."""
    if a is None:
        return b
    if b is None:
        return a
    count = a[0] + b[0]
    return [count, (a[1] * a[0] + b[1] * b[0]) / count, max(a[2], b[2])]


def merge_all(a: list[Agg], b: list[Agg]) -> list[Agg]:
    return [merge(x, y) for x, y in zip(a, b, strict=True)]


def merge_named(a: dict, b: dict) -> dict:
    merged = dict(a)
    for name, values in b.items():
        merged[name] = merge_all(merged[name], values) if name in merged else values
    return merged


def _number(value) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def extract(data: dict) -> tuple[dict, dict]:
    """One fast sample's `data` as (row data, guests), each value an aggregate of one."""
    row: dict = {}
    host = data.get("host")
    if isinstance(host, dict):
        mem, rootfs, load = host.get("mem") or {}, host.get("rootfs") or {}, host.get("load")
        values: tuple = (
            host.get("cpu_percent"),
            load[0] if isinstance(load, list) and load else None,
            mem.get("used"),
            mem.get("total"),
            rootfs.get("used"),
            rootfs.get("total"),
        )
        row["host"] = [aggregate(_number(v)) for v in values]
    pools = (data.get("zfs_pools") or {}).get("pools")
    if isinstance(pools, list):
        row["pools"] = {}
        for pool in pools:
            errors = pool.get("errors") or {}
            pool_values: tuple = (
                pool.get("allocated"),
                pool.get("size"),
                pool.get("fragmentation_pct"),
                errors.get("read"),
                errors.get("write"),
                errors.get("checksum"),
                pool.get("data_errors"),
            )
            row["pools"][str(pool.get("name"))] = [aggregate(_number(v)) for v in pool_values]
    storages = data.get("storage")
    if isinstance(storages, list):
        row["storage"] = {
            str(s.get("storage")): [
                aggregate(_number(s.get("used"))),
                aggregate(_number(s.get("total"))),
            ]
            for s in storages
            if _number(s.get("used")) is not None
        }
    guests = {}
    for guest in data.get("guests") or []:
        guest_values = (guest.get("cpu_percent"), guest.get("mem"))
        guests[str(guest.get("vmid"))] = [aggregate(_number(v)) for v in guest_values]
    return row, guests


def merge_rows(a: dict, b: dict) -> dict:
    merged = dict(a)
    if "host" in b:
        merged["host"] = merge_all(a["host"], b["host"]) if "host" in a else b["host"]
    for kind in ("pools", "storage"):
        if kind in b:
            merged[kind] = merge_named(a.get(kind) or {}, b[kind])
    return merged


def _rounded(fields: tuple[str, ...], values: list[Agg]) -> list[Agg]:
    out: list[Agg] = []
    for name, agg in zip(fields, values, strict=True):
        if agg is None:
            out.append(None)
        elif name in FRACTIONAL:
            out.append([agg[0], round(agg[1], 3), agg[2]])
        else:
            out.append([agg[0], round(agg[1]), agg[2]])
    return out


def decode(blob) -> dict:
    """A row's `data` (plain orjson in rows written before it was compressed)."""
    raw = bytes(blob)
    if raw[:1] == b"{":
        return orjson.loads(raw)
    return orjson.loads(_decompressor().decompress(raw))


_local = threading.local()


def _decompressor():
    # a year of a host's chart is 8,760 rows: one context per thread instead of one per row
    # (codec.decompress makes a new one: 19 us against 1.5 us to decompress a row with a
    # context made before); a context is not safe across threads
    found = getattr(_local, "decompressor", None)
    if found is None:
        found = _local.decompressor = zstandard.ZstdDecompressor()
    return found


def _compress(text: bytes) -> bytes:
    found = getattr(_local, "compressor", None)
    if found is None:
        found = _local.compressor = zstandard.ZstdCompressor(level=codec.LEVEL)
    return found.compress(text)


def encode(row: dict) -> bytes:
    stored: dict = {}
    if "host" in row:
        stored["host"] = _rounded(HOST_FIELDS, row["host"])
    if "pools" in row:
        stored["pools"] = {n: _rounded(POOL_FIELDS, v) for n, v in row["pools"].items()}
    if "storage" in row:
        stored["storage"] = {n: _rounded(STORAGE_FIELDS, v) for n, v in row["storage"].items()}
    return _compress(orjson.dumps(stored))


def encode_guests(guests: dict) -> bytes:
    rounded = {vmid: _rounded(GUEST_FIELDS, values) for vmid, values in guests.items()}
    return _compress(orjson.dumps(rounded))


def decode_guests(blob) -> dict:
    return orjson.loads(_decompressor().decompress(bytes(blob))) if blob is not None else {}


def guest_values(blob, vmid: int) -> list | None:
    """One guest's [cpu, mem] aggregates from an hourly row's `guests`, or None.

    Parses only that guest's part of the JSON: a year's chart of one guest reads 8,760 rows of
    fifty guests each. orjson writes `{"100":[[...],[...]],"101":...}` without spaces, and the
    values hold no quote, so a guest's value runs from its key to the next `,"` or the end."""
    if blob is None:
        return None
    text = _decompressor().decompress(bytes(blob))
    key = b'"%d":' % vmid
    at = text.find(key)
    if at == -1:
        return None
    at += len(key)
    end = text.find(b',"', at)
    return orjson.loads(text[at : end if end != -1 else len(text) - 1])


def bucket(moment: datetime, step: int) -> int:
    seconds = int(moment.timestamp())
    return seconds - seconds % step


def roll_up(
    bound: int | None = None,
    chunk: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    pause: float | None = None,
) -> int:
    """Merge the fast samples stored since the last pass into the rollups; how many.

    Reads samples with ids up to `bound` (None: all there are), `chunk` per transaction,
    pausing `pause` seconds between chunks like the pruner (models.PrunableQuerySet.prune).
    """
    chunk = chunk or settings.PROXMON_HISTORY_CHUNK
    pause = settings.PROXMON_PRUNE_PAUSE_S if pause is None else pause
    if bound is None:
        bound = _settled()
    done = 0
    keyframes: dict[int, bytes | None] = {}
    while not should_stop():
        state = RollupState.objects.get_or_create(pk=1)[0]
        if state.last_id >= bound:
            break
        rows = list(
            Sample.objects.filter(id__gt=state.last_id, id__lte=bound, tier="fast")
            .order_by("id")
            .values_list("id", "host_id", "collected_at", "keyframe_id", "body")[:chunk]
        )
        last_id = rows[-1][0] if len(rows) == chunk else bound
        buckets = _aggregate(rows, keyframes)
        with transaction.atomic():
            claimed = RollupState.objects.filter(pk=1, last_id=state.last_id).update(
                last_id=last_id, updated_at=timezone.now()
            )
            if not claimed:
                continue  # another process rolled these up meanwhile: read the state again
            _store(buckets)
        done += len(rows)
        if len(rows) == chunk and pause:
            time.sleep(pause)
    return done


def _settled() -> int:
    """The newest sample id below which every id is committed (see the module docstring)."""
    newest = Sample.objects.order_by("-id")
    if connection.vendor == "postgresql":
        settle = timedelta(seconds=settings.PROXMON_HISTORY_SETTLE_S)
        newest = newest.filter(received_at__lt=timezone.now() - settle)
    return newest.values_list("id", flat=True).first() or 0


def _aggregate(rows: list, keyframes: dict[int, bytes | None]) -> dict:
    """(host, step, start) -> [row data, guests or None], from the samples `rows`.
    `keyframes`: decompressed keyframes by id, None for one that does not decompress (its
    samples are skipped and logged, they do not stop history)."""
    missing = {r[3] for r in rows if r[3] is not None and r[3] not in keyframes}
    if missing:
        for pk, data in Keyframe.objects.filter(pk__in=missing).values_list("id", "data"):
            try:
                keyframes[pk] = codec.decompress(bytes(data))
            except Exception as exc:  # noqa: BLE001 - its samples are skipped below, one by one
                log.warning("keyframe %s unreadable, its samples not rolled up: %r", pk, exc)
                keyframes[pk] = None
    if len(keyframes) > 4096:  # more hosts than this in one pass: start over, stay bounded
        keep = {r[3] for r in rows}
        for pk in [pk for pk in keyframes if pk not in keep]:
            del keyframes[pk]
    buckets: dict = {}
    for sample_id, host_id, collected_at, keyframe_id, body in rows:
        try:
            dictionary = keyframes.get(keyframe_id)
            if keyframe_id is not None and dictionary is None:
                raise ValueError(f"keyframe {keyframe_id} unreadable")
            text = codec.decompress(bytes(body), dictionary)
            row, guests = extract(rollupview.fast_data(text))
        except Exception as exc:  # noqa: BLE001 - one unreadable sample must not stop history
            log.warning("sample %s of host %s not rolled up: %r", sample_id, host_id, exc)
            continue
        for step in STEPS:
            key = (host_id, step, bucket(collected_at, step))
            found = buckets.get(key)
            if found is None:
                buckets[key] = [row, guests if step == HOUR else None]
            else:
                found[0] = merge_rows(found[0], row)
                if step == HOUR:
                    found[1] = merge_named(found[1], guests)
    return buckets


def _store(buckets: dict) -> None:
    """Merge `buckets` into the stored rows (read, merge, write back), in the caller's
    transaction."""
    by_host: dict[int, list] = defaultdict(list)
    for host_id, step, start in buckets:
        by_host[host_id].append((step, start))
    existing = {}
    for host_id, keys in by_host.items():
        starts = {start for _, start in keys}
        rows = Rollup.objects.filter(host_id=host_id, start__in=starts).values_list(
            "step", "start", "data", "guests"
        )
        for step, start, data, blob in rows:
            existing[(host_id, step, start)] = (decode(data), blob)
    live = set(Host.objects.filter(pk__in=list(by_host)).values_list("pk", flat=True))
    objects = []
    for key, (row, guests) in buckets.items():
        if key[0] not in live:
            continue  # deleted meanwhile
        if key in existing:
            stored, stored_guests = existing[key]
            row = merge_rows(stored, row)
            if guests is not None:
                guests = merge_named(decode_guests(stored_guests), guests)
        objects.append(
            Rollup(
                host_id=key[0],
                step=key[1],
                start=key[2],
                data=encode(row),
                guests=encode_guests(guests) if guests is not None else None,
            )
        )
    Rollup.objects.bulk_create(
        objects,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["host", "step", "start"],
        update_fields=["data", "guests"],
    )


def prune(now: datetime | None = None, chunk: int | None = None, should_stop=lambda: False) -> int:
    """Delete rollups past their retention, host by host and in chunks; how many."""
    now = now or timezone.now()
    chunk = chunk or settings.PROXMON_PRUNE_CHUNK
    keep = {
        FIVE_MINUTES: settings.PROXMON_HISTORY_5M_DAYS,
        HOUR: settings.PROXMON_HISTORY_1H_DAYS,
    }
    deleted = 0
    for host_id in Host.objects.values_list("pk", flat=True):
        for step, days in keep.items():
            before = int(now.timestamp()) - days * 86400
            while not should_stop():
                ids = list(
                    Rollup.objects.filter(host_id=host_id, step=step, start__lt=before)
                    .order_by()
                    .values_list("id", flat=True)[:chunk]
                )
                if not ids:
                    break
                deleted += Rollup.objects.filter(id__in=ids).delete()[0]
    return deleted


def rolled_up_to() -> int:
    """The id up to which samples are rolled up (retention keeps the rest)."""
    return RollupState.objects.values_list("last_id", flat=True).filter(pk=1).first() or 0
