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

The rows' format (a span of points per row, columnar) is metrics/rollupformat.py's; its names
are re-exported here.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hosts.models import Host
from metrics import codec, rollupview
from metrics.models import Keyframe, Rollup, RollupState, Sample
from metrics.rollupformat import (  # noqa: F401 - the format's names, re-exported
    FIVE_MINUTES,
    GUEST_FIELDS,
    HOST_FIELDS,
    HOUR,
    POOL_FIELDS,
    SPAN,
    STEPS,
    STORAGE_FIELDS,
    Agg,
    aggregate,
    decode,
    decode_guests,
    encode,
    encode_guests,
    extract,
    guest_values,
    merge,
    merge_all,
    merge_named,
    merge_rows,
    put_guests,
    put_row,
    span_start,
)

log = logging.getLogger(__name__)

# A write rewrites the row of every span its samples touched (a host's day of hourly points:
# ~0.7 ms). Samples come in time order, one per host every 30 s, so a write of one 500-sample
# chunk met each of 1,000 hosts about once: a rewrite per sample. Up to 20 chunks are merged
# in memory first, so a 5-minute pass of 1,000 hosts writes each row once. MAX_BUCKETS bounds
# that memory (a host's three points of a pass with fifty guests: ~25 KB; 10,000: ~80 MB).
CHUNKS_PER_WRITE = 20
MAX_BUCKETS = 10_000


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

    Reads samples with ids up to `bound` (None: all there are), `chunk` per query, and writes
    what up to CHUNKS_PER_WRITE chunks (or MAX_BUCKETS points) made in one transaction,
    pausing `pause` seconds between writes like the pruner (models.PrunableQuerySet.prune).
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
        buckets: dict = {}
        last_id, read = state.last_id, 0
        for _ in range(CHUNKS_PER_WRITE):
            rows = list(
                Sample.objects.filter(id__gt=last_id, id__lte=bound, tier="fast")
                .order_by("id")
                .values_list("id", "host_id", "collected_at", "keyframe_id", "body")[:chunk]
            )
            last_id = rows[-1][0] if len(rows) == chunk else bound
            _aggregate(rows, keyframes, buckets)
            read += len(rows)
            if last_id >= bound or len(buckets) >= MAX_BUCKETS or should_stop():
                break
        # read, merge and encode before the write transaction: on SQLite it holds the one
        # write lock, and ingest waits for it (docs/benchmarks.md "History", the ceiling)
        merged = _merged(buckets)
        with transaction.atomic():
            claimed = RollupState.objects.filter(pk=1, last_id=state.last_id).update(
                last_id=last_id, updated_at=timezone.now()
            )
            if not claimed:
                continue  # another process rolled these up meanwhile: read the state again
            _write(merged)
        done += read
        if last_id < bound and pause:
            time.sleep(pause)
    return done


def _settled() -> int:
    """The newest sample id below which every id is committed (see the module docstring)."""
    newest = Sample.objects.order_by("-id")
    if connection.vendor == "postgresql":
        settle = timedelta(seconds=settings.PROXMON_HISTORY_SETTLE_S)
        newest = newest.filter(received_at__lt=timezone.now() - settle)
    return newest.values_list("id", flat=True).first() or 0


def _aggregate(rows: list, keyframes: dict[int, bytes | None], buckets: dict) -> None:
    """Merge the samples `rows` into `buckets`: (host, step, start) -> [row data, guests or
    None]. `keyframes`: decompressed keyframes by id, None for one that does not decompress
    (its samples are skipped and logged, they do not stop history)."""
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


def _merged(buckets: dict) -> list[Rollup]:
    """`buckets` ((host, step, start) -> [row, guests or None]) merged into the stored rows of
    their spans: the rows to write back (`_write`).

    Read outside the transaction that writes them, and still exact: the rows are read after
    the RollupState this pass claims from, and the claim succeeds only if no other pass wrote
    since (the module docstring); only this pass writes history rows, besides retention,
    which deletes rows past their span (such a row written again is deleted again).

    A row is rewritten whole for each pass that adds to it: the cost of a row holding a span of
    points (docs/benchmarks.md "History", the pass's cost per sample)."""
    spans: dict[tuple[int, int, int], list] = defaultdict(list)
    for (host_id, step, start), found in buckets.items():
        first = span_start(start, step)
        spans[(host_id, step, first)].append(((start - first) // step, *found))
    by_host: dict[int, set[int]] = defaultdict(set)
    for host_id, _, first in spans:
        by_host[host_id].add(first)
    existing = {}
    for host_id, firsts in by_host.items():
        rows = Rollup.objects.filter(host_id=host_id, start__in=firsts).values_list(
            "step", "start", "data", "guests"
        )
        for step, first, data, blob in rows:
            existing[(host_id, step, first)] = (data, blob)
    objects = []
    for key, points in spans.items():
        hourly = key[1] == HOUR
        stored = existing.get(key)
        span = decode(stored[0]) if stored else {}
        guests = decode_guests(stored[1]) if stored and hourly else {}
        for slot, row, point_guests in points:
            put_row(span, slot, row)
            if hourly:
                put_guests(guests, slot, point_guests)
        objects.append(
            Rollup(
                host_id=key[0],
                step=key[1],
                start=key[2],
                data=encode(span),
                guests=encode_guests(guests) if hourly else None,
            )
        )
    return objects


def _write(objects: list[Rollup]) -> None:
    """Write merged rows, in the caller's transaction, leaving out hosts deleted meanwhile."""
    hosts = {o.host_id for o in objects}
    live = set(Host.objects.filter(pk__in=hosts).values_list("pk", flat=True))
    Rollup.objects.bulk_create(
        [o for o in objects if o.host_id in live],
        batch_size=500,
        update_conflicts=True,
        unique_fields=["host", "step", "start"],
        update_fields=["data", "guests"],
    )


def prune(now: datetime | None = None, chunk: int | None = None, should_stop=lambda: False) -> int:
    """Delete history rows past their retention, host by host and in chunks; how many rows.

    A row goes when its whole span is past the retention (its last point too): a day's row of
    hourly points stays until the last hour of that day is older than PROXMON_HISTORY_1H_DAYS,
    so up to a span's worth of older points outlives the setting."""
    now = now or timezone.now()
    chunk = chunk or settings.PROXMON_PRUNE_CHUNK
    keep = {
        FIVE_MINUTES: settings.PROXMON_HISTORY_5M_DAYS,
        HOUR: settings.PROXMON_HISTORY_1H_DAYS,
    }
    deleted = 0
    # Plain SQL on the (host, step, start) index: this asks every host twice (10,000 queries at
    # 5,000 hosts, most finding nothing) at the server's start, while its agents join, and
    # building each through the ORM held the GIL for seconds (bench.joins --profile).
    due = (
        f"SELECT id FROM {Rollup._meta.db_table}"
        " WHERE host_id = %s AND step = %s AND start <= %s LIMIT %s"
    )
    with connection.cursor() as cursor:
        for host_id in Host.objects.values_list("pk", flat=True):
            for step, days in keep.items():
                before = int(now.timestamp()) - days * 86400 - SPAN[step]
                while not should_stop():
                    cursor.execute(due, [host_id, step, before, chunk])
                    ids = [row[0] for row in cursor.fetchall()]
                    if not ids:
                        break
                    deleted += Rollup.objects.filter(id__in=ids).delete()[0]
    return deleted


def rolled_up_to() -> int:
    """The id up to which samples are rolled up (retention keeps the rest)."""
    return RollupState.objects.values_list("last_id", flat=True).filter(pk=1).first() or 0
