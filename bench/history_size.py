"""Bytes of history per host (`bench.history size`).

A fresh database gets, per host, the history the defaults keep: hourly points over `--days` and
5-minute points over PROXMON_HISTORY_5M_DAYS (35 days). Each point is built by the real code
path from samples of bench/payloads.py (the demo's consistent machine: 50 guests, rpool and
tank, 4 storages, values moving along smooth curves): `rollups.extract` of each sample,
`rollups.merge_rows` / `merge_named` into its point, then `rollups._merged` and `_write` (what
the background pass writes with), a day at a time. A real 5-minute point merges 10 fast samples
and an hourly one 120; building them from that many would take hours, so a 5-minute point is
built from one sample, an hourly one from its twelve 5-minute samples (last 35 days) or two
samples (before), and the counts are then set to 10 and 120 (their digits are stored). Prints
the table's size with its index (SQLite: dbstat after VACUUM; PostgreSQL: pg_total_relation_size
after VACUUM FULL) per host, split into the 5-minute and the hourly part by their stored bytes.

`--five-minute-span 86400` measures rows of a day of 5-minute points instead of an hour's
(rollupformat.SPAN), the choice metrics/rollupformat.py explains.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench.history_points import history_points
from bench.pages import fresh_database


def rollup_bytes(connection) -> dict[str, int]:
    """Bytes of metrics_rollup with its index, by step (the shares of its rows' sizes)."""
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
            "SELECT step, COUNT(*), SUM(LENGTH(data)), SUM(COALESCE(LENGTH(guests), 0))"
            " FROM metrics_rollup GROUP BY step"
        )
        rows = {step: (count, int(data), int(guests)) for step, count, data, guests in cursor}
    payload = sum(data + guests for _, data, guests in rows.values())
    out = {"total": total}
    for step, (count, data, guests) in rows.items():
        out[f"rows_{step}"] = count
        out[f"data_{step}"] = data
        out[f"guests_{step}"] = guests
        out[f"share_{step}"] = round(total * (data + guests) / payload)
    return out


def size(args) -> dict:
    fresh_database("proxmon-history-")
    from django.conf import settings
    from django.db import connection, transaction

    from bench.payloads import Host as Simulated
    from hosts.models import Host
    from metrics import rollupformat, rollups

    rollupformat.SPAN[rollupformat.FIVE_MINUTES] = args.five_minute_span
    now = datetime.now(UTC)
    five_minute_days = settings.PROXMON_HISTORY_5M_DAYS
    began = time.perf_counter()
    for i in range(args.hosts):
        host = Host.objects.create(name=f"pve{i:04d}", token_hash="x")
        simulated = Simulated(i, host.name)
        for buckets in history_points(host.pk, simulated, now, args.days, five_minute_days):
            with transaction.atomic():
                rollups._write(rollups._merged(buckets))
    filled = time.perf_counter() - began
    sizes = rollup_bytes(connection)
    per_host = {k: v / args.hosts for k, v in sizes.items()}
    mb = 2**20
    five, hour = rollupformat.FIVE_MINUTES, rollupformat.HOUR
    points = {five: 12 * 24 * five_minute_days, hour: 24 * args.days}
    return {
        "engine": connection.vendor,
        "hosts": args.hosts,
        "days_hourly": args.days,
        "days_5m": five_minute_days,
        "five_minute_span_s": args.five_minute_span,
        "fill_s": round(filled, 1),
        "rows_per_host": {"5m": per_host.get(f"rows_{five}"), "1h": per_host.get(f"rows_{hour}")},
        "stored_bytes_per_point": {
            "5m": round(per_host[f"data_{five}"] / points[five]),
            "1h_data": round(per_host[f"data_{hour}"] / points[hour]),
            "1h_guests": round(per_host[f"guests_{hour}"] / points[hour]),
        },
        "mb_per_host": round(per_host["total"] / mb, 2),
        "mb_per_host_5m_part": round(per_host[f"share_{five}"] / mb, 2),
        "mb_per_host_1h_part": round(per_host[f"share_{hour}"] / mb, 2),
        "mb_per_host_year_1h": round(per_host[f"share_{hour}"] * 365 / args.days / mb, 2),
    }
