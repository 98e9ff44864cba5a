"""History (issue 13): its size per host and year, and the time of a year's chart data.

    .venv/bin/python -m bench.history size [--hosts 2] [--days 365]
    .venv/bin/python -m bench.history series [--hosts 1000] [--days 365] [--repeats 20]
    .venv/bin/python -m bench.history ceiling [--agents 20] [--duration 60]
    .venv/bin/python -m bench.history layout [--days 3]
    .venv/bin/python -m bench.history pass [--hosts 4] [--samples 100]
    DATABASE_URL=postgres://... .venv/bin/python -m bench.history ...   # a fresh database

`size`: a fresh database gets, per host, the history points the defaults keep: hourly points
over `--days` and 5-minute points over PROXMON_HISTORY_5M_DAYS (35 days). Each point is built by
the real code path from samples of bench/payloads.py (the demo's consistent machine: 50 guests,
rpool and tank, 4 storages, values moving along smooth curves): `rollups.extract` of each
sample, `rollups.merge_rows` / `merge_named` into its buckets, then `rollups._store` (the
writer the background pass uses). A real 5-minute point merges 10 fast samples and an hourly
one 120; building them from that many samples would take hours, so a 5-minute point is built
from one sample, an hourly one from its twelve 5-minute samples (last 35 days) or two samples
(before), and the counts are then set to 10 and 120 (their digits are stored). Prints the
table's size with its indexes (SQLite: dbstat after VACUUM; PostgreSQL: pg_total_relation_size
after VACUUM FULL) per host, split into the 5-minute and the hourly part.

`ceiling`: the ingest ceiling (bench.scale --saturate) without and with the roll-up pass
running beside it (see `ceiling`'s docstring).

`series`: one host (`pve0000`) with a year of real hourly points as above, and `--hosts - 1`
others with a year of hourly rows each, written in time order across hosts as the pass writes
them (so the queried host's rows are spread one per thousand through the table); the others'
rows carry a 2-byte placeholder instead of ~1.4 KB, so the table has a thousand hosts' rows and
index entries but not their 12 GB. Then times `GET /hosts/pve0000/series.json?range=1y` (and
`&guest=`) through Django's whole stack with the test client, warm, median and max of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import fresh_database  # noqa: E402

DAY = 86400


def counted(values: list, count: int) -> list:
    """Aggregates with `count` samples each (see the module docstring)."""
    return [None if agg is None else [count, agg[1], agg[2]] for agg in values]


def counted_row(row: dict, count: int) -> dict:
    out: dict = {}
    if "host" in row:
        out["host"] = counted(row["host"], count)
    for kind in ("pools", "storage"):
        if kind in row:
            out[kind] = {name: counted(v, count) for name, v in row[kind].items()}
    return out


def history_points(host_id: int, simulated, now: datetime, days: int, five_minute_days: int):
    """(buckets of rollups._store, 5-minute points, hourly points) of one host, oldest first,
    yielded a day at a time."""
    from metrics import rollups

    end = now.timestamp() // 3600 * 3600
    first = end - days * DAY
    five_minutes_from = end - five_minute_days * DAY
    for day_start in range(int(first), int(end), DAY):
        buckets: dict = {}
        for hour in range(day_start, day_start + DAY, 3600):
            recent = hour >= five_minutes_from
            offsets = range(150, 3600, 300) if recent else (900, 2700)
            row: dict = {}
            guests: dict = {}
            for offset in offsets:
                when = datetime.fromtimestamp(hour + offset, UTC)
                sample_row, sample_guests = rollups.extract(simulated.data("fast", when))
                row = rollups.merge_rows(row, sample_row)
                guests = rollups.merge_named(guests, sample_guests)
                if recent:
                    key = (host_id, rollups.FIVE_MINUTES, hour + offset - 150)
                    buckets[key] = [counted_row(sample_row, 10), None]
            guests = {vmid: counted(values, 120) for vmid, values in guests.items()}
            buckets[(host_id, rollups.HOUR, hour)] = [counted_row(row, 120), guests]
        yield buckets


def rollup_bytes(connection) -> dict[str, int]:
    """Bytes of metrics_rollup with its indexes, by step (the shares of its rows' sizes)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("VACUUM")
            cursor.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'metrics_rollup'")
            names = [name for (name,) in cursor.fetchall()]
            marks = ",".join("%s" for _ in names)
            cursor.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names)
        else:
            cursor.execute("VACUUM FULL ANALYZE metrics_rollup")
            cursor.execute("SELECT pg_total_relation_size('metrics_rollup')")
        total = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT step, COUNT(*), SUM(LENGTH(data) + COALESCE(LENGTH(guests), 0))"
            " FROM metrics_rollup GROUP BY step"
        )
        rows = {step: (count, int(payload)) for step, count, payload in cursor.fetchall()}
    payload = sum(p for _, p in rows.values())
    return {
        "total": total,
        **{f"rows_{step}": count for step, (count, _) in rows.items()},
        **{f"payload_{step}": p for step, (_, p) in rows.items()},
        **{f"share_{step}": round(total * p / payload) for step, (_, p) in rows.items()},
    }


def size(args) -> dict:
    fresh_database("proxmon-history-")
    from django.conf import settings
    from django.db import connection, transaction

    from bench.payloads import Host as Simulated
    from hosts.models import Host
    from metrics import rollups

    now = datetime.now(UTC)
    five_minute_days = settings.PROXMON_HISTORY_5M_DAYS
    began = time.perf_counter()
    for i in range(args.hosts):
        host = Host.objects.create(name=f"pve{i:04d}", token_hash="x")
        simulated = Simulated(i, host.name)
        for buckets in history_points(host.pk, simulated, now, args.days, five_minute_days):
            with transaction.atomic():
                rollups._store(buckets)
    filled = time.perf_counter() - began
    sizes = rollup_bytes(connection)
    per_host = {k: v / args.hosts for k, v in sizes.items()}
    mb = 2**20
    return {
        "engine": connection.vendor,
        "hosts": args.hosts,
        "days_hourly": args.days,
        "days_5m": five_minute_days,
        "fill_s": round(filled, 1),
        "rows_per_host": {"5m": per_host.get("rows_300"), "1h": per_host.get("rows_3600")},
        "stored_bytes_per_row": {
            "5m": round(sizes["payload_300"] / sizes["rows_300"]),
            "1h": round(sizes["payload_3600"] / sizes["rows_3600"]),
        },
        "mb_per_host": round(per_host["total"] / mb, 2),
        "mb_per_host_5m_part": round(per_host["share_300"] / mb, 2),
        "mb_per_host_1h_part": round(per_host["share_3600"] / mb, 2),
        "mb_per_host_year_1h": round(per_host["share_3600"] * 365 / args.days / mb, 2),
    }


def series(args) -> dict:
    fresh_database("proxmon-series-")
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client

    from bench.pages import timed
    from bench.payloads import Host as Simulated
    from hosts.models import Host
    from metrics import rollups
    from metrics.models import Rollup

    now = datetime.now(UTC)
    Host.objects.bulk_create(Host(name=f"pve{i:04d}", token_hash="x") for i in range(args.hosts))
    queried = Host.objects.get(name="pve0000")
    began = time.perf_counter()
    real: dict[int, tuple[bytes, bytes]] = {}
    for buckets in history_points(queried.pk, Simulated(0, queried.name), now, args.days, 0):
        for (_, _, start), (row, guests) in buckets.items():
            real[start] = (rollups.encode(row), rollups.encode_guests(guests))
    built = time.perf_counter() - began
    hours = sorted(real)
    if connection.vendor == "sqlite":  # the fill only: a thousand hosts' index leaves in memory
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -500000")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_real AS SELECT start, data, guests FROM metrics_rollup"
            " WHERE 1 = 0"
        )
        cursor.executemany(
            "INSERT INTO bench_real (start, data, guests) VALUES (%s, %s, %s)",
            [(start, *real[start]) for start in hours],
        )
        # as the pass writes them: every host's point of an hour, then the next hour's
        cursor.execute(
            "WITH RECURSIVE hours (start) AS (SELECT %s UNION ALL"
            " SELECT start + 3600 FROM hours WHERE start < %s)"
            " INSERT INTO metrics_rollup (host_id, step, start, data, guests)"
            " SELECT h.id, 3600, hours.start, COALESCE(r.data, %s), r.guests"
            " FROM hours CROSS JOIN hosts_host h"
            " LEFT JOIN bench_real r ON r.start = hours.start AND h.id = %s"
            " ORDER BY hours.start, h.id",
            [hours[0], hours[-1], b"{}", queried.pk],
        )
    filled = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    connection.close()  # the requests get a connection as the server opens it (its pragmas)
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    vmid = next(iter(rollups.decode_guests(real[max(real)][1])))
    url = f"/hosts/{queried.name}/series.json?range=1y"
    return {
        "engine": connection.vendor,
        "hosts": args.hosts,
        "rollup_rows": Rollup.objects.count(),
        "queried_host_rows": len(real),
        "build_s": round(built, 1),
        "fill_s": round(filled, 1),
        "series_1y": timed(client, url, args.repeats),
        "series_1y_guest": timed(client, f"{url}&guest={vmid}", args.repeats),
    }


def ceiling(args) -> dict:
    """bench.scale --saturate twice on fresh servers: the roll-up pass off, then running
    without rest. Off: PROXMON_HISTORY_INTERVAL_S of a million seconds (the pass runs once, at
    start, on an empty database). On: an interval of 1 s with the background thread's round at
    1 s (PROXMON_HEARTBEAT_S, in both runs), so the pass follows ingest within a second or two
    instead of every 5 minutes: the same samples read once each, in more and smaller passes, so
    the same work per sample and none of it left for after the run. PostgreSQL: the settle
    margin is 5 s, not 60, or the pass would hardly start within the run."""
    from bench import scale
    from liveserver import LiveServer

    found: dict = {}
    drop = LiveServer.drop

    def drop_after_counting(server: LiveServer) -> None:
        if not server.shared:
            found["rolled_up_to_id"] = server.query("SELECT MAX(last_id) FROM metrics_rollupstate")
            found["newest_fast_id"] = server.query(
                "SELECT MAX(id) FROM metrics_sample WHERE tier = 'fast'"
            )
            found["history_points"] = server.query("SELECT COUNT(*) FROM metrics_rollup")
        drop(server)

    setattr(LiveServer, "drop", drop_after_counting)  # noqa: B010 - for this run only
    runs = {}
    try:
        for label, interval in (("without_rollups", "1000000"), ("with_rollups", "1")):
            os.environ.update(
                PROXMON_HEARTBEAT_S="1",
                PROXMON_HISTORY_INTERVAL_S=interval,
                PROXMON_HISTORY_SETTLE_S="5",
            )
            found.clear()
            report = scale.main(
                ["--agents", str(args.agents), "--duration", str(args.duration), "--saturate",
                 "--timeline", "0"]
            )  # fmt: skip
            runs[label] = {
                "acked_per_s": report.get("acked_per_s"),
                "ack_ms_p50": report.get("ack_ms_p50"),
                "ack_ms_p99": report.get("ack_ms_p99"),
                "nacks": report.get("nacks"),
                **{k: v for k, v in report.items() if "cpu" in k or "busy" in k},
                **{k: (v[0][0] if v else None) for k, v in found.items()},
            }
            engine = report.get("engine")
    finally:
        setattr(LiveServer, "drop", drop)  # noqa: B010
    without = runs["without_rollups"]["acked_per_s"] or 0
    with_ = runs["with_rollups"]["acked_per_s"] or 0
    return {
        "engine": engine,
        "agents": args.agents,
        "duration_s": args.duration,
        **runs,
        "ceiling_change_pct": round((with_ - without) / without * 100, 1) if without else None,
    }


def layout(args) -> dict:
    """Bytes an hour of one host would take if a day's points were compressed together (a
    layout that does not exist: the measure behind docs/benchmarks.md's "what is left")."""
    fresh_database("proxmon-layout-")
    import orjson
    import zstandard

    from bench.payloads import Host as Simulated
    from metrics import rollups

    compress = zstandard.ZstdCompressor(level=3).compress
    rows, guests = [], []
    for buckets in history_points(1, Simulated(0, "pve0000"), datetime.now(UTC), args.days, 0):
        for _, (row, guest_aggs) in sorted(buckets.items()):
            rows.append(orjson.loads(orjson.dumps(row)))
            guests.append(guest_aggs)
    hours = len(rows)

    def mib(day: list) -> list:
        return [
            {k: [c, None if m is None else [m[0], round(m[1] / 2**20), round(m[2] / 2**20)]]
             for k, (c, m) in g.items()}
            for g in day
        ]  # fmt: skip

    days = [range(i, min(i + 24, hours)) for i in range(0, hours, 24)]
    return {
        "hours": hours,
        "per_row": {
            "data": round(sum(len(rollups.encode(r)) for r in rows) / hours),
            "guests": round(sum(len(rollups.encode_guests(g)) for g in guests) / hours),
        },
        "per_day_row_per_hour": {
            "data": round(
                sum(len(compress(orjson.dumps([rows[i] for i in d]))) for d in days) / hours
            ),
            "guests": round(
                sum(len(compress(orjson.dumps([guests[i] for i in d]))) for d in days) / hours
            ),
            "guests_mem_in_mib": round(
                sum(len(compress(orjson.dumps(mib([guests[i] for i in d])))) for d in days) / hours
            ),
        },
    }


def pass_cost(args) -> dict:
    """The roll-up pass's CPU per fast sample, in-process: `rollups._aggregate` (decompress,
    read, extract, merge) over stored demo samples, reading each sample whole with orjson and
    through rollupview, alternately."""
    fresh_database("proxmon-pass-")
    from datetime import timedelta

    import orjson

    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics import rollups, rollupview
    from metrics.ingest import ingest
    from metrics.models import Sample

    start = datetime.now(UTC) - timedelta(hours=2)
    for i in range(args.hosts):
        host = Host.objects.create(name=f"pve{i:04d}", token_hash="x")
        simulated = Simulated(i, host.name)
        for seq in range(args.samples):
            when = start + timedelta(seconds=30 * seq)
            frame = {"type": "sample", "seq": seq, "tier": "fast", "collected_at": rfc3339(when),
                     "data": simulated.data("fast", when), "errors": {}}  # fmt: skip
            ingest(host.pk, "x", frame, when, None)
    rows = list(
        Sample.objects.filter(tier="fast")
        .order_by("id")
        .values_list("id", "host_id", "collected_at", "keyframe_id", "body")
    )
    view = rollupview.fast_data
    readers = {"whole": lambda text: orjson.loads(text).get("data") or {}, "view": view}
    times: dict[str, list[float]] = {"whole": [], "view": []}
    try:
        for _ in range(3):
            for name, reader in readers.items():
                rollupview.fast_data = reader
                keyframes: dict = {}
                rollups._aggregate(rows[:10], keyframes)  # keyframes loaded, as in a pass
                began = time.perf_counter()
                rollups._aggregate(rows, keyframes)
                times[name].append((time.perf_counter() - began) / len(rows) * 1e6)
    finally:
        rollupview.fast_data = view
    return {
        "samples": len(rows),
        "us_per_sample_min": {name: round(min(found)) for name, found in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sized = commands.add_parser("size", help="bytes per host per year of history")
    sized.add_argument("--hosts", type=int, default=2)
    sized.add_argument("--days", type=int, default=365, help="days of hourly points")
    timed_ = commands.add_parser("series", help="series.json?range=1y with many hosts")
    timed_.add_argument("--hosts", type=int, default=1000)
    timed_.add_argument("--days", type=int, default=365)
    timed_.add_argument("--repeats", type=int, default=20)
    saturated = commands.add_parser("ceiling", help="ingest ceiling without and with rollups")
    saturated.add_argument("--agents", type=int, default=20)
    saturated.add_argument("--duration", type=float, default=60)
    laid = commands.add_parser("layout", help="bytes an hour with a day's points in one row")
    laid.add_argument("--days", type=int, default=3)
    costs = commands.add_parser("pass", help="the roll-up pass's CPU per sample, in-process")
    costs.add_argument("--hosts", type=int, default=4)
    costs.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    commands_ = {
        "size": size,
        "series": series,
        "ceiling": ceiling,
        "layout": layout,
        "pass": pass_cost,
    }
    report = commands_[args.command](args)
    report["took_s"] = round(time.perf_counter() - started, 1)
    report["statistics"] = "median and max of repeats, ms" if args.command == "series" else None
    print(json.dumps({k: v for k, v in report.items() if v is not None}, indent=2))


if __name__ == "__main__":
    main()
