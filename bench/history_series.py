"""The time of a year's chart data with a thousand hosts (`bench.history series`).

One host (`pve0000`) with a year of real hourly points (built as bench/history_size.py says,
then laid out as the pass lays them out: a row per UTC day, metrics/rollupformat.py), and
`--hosts - 1` others with a year of day rows each, written in time order across hosts as the
pass writes them (so the queried host's rows are spread one per thousand through the table).
The others' rows carry a 2-byte placeholder instead of ~21 KB, so the table has a thousand
hosts' rows and index entries but not their 8 GB; their 5-minute rows are left out (the request
reads hourly rows through the index, which keeps a host's rows of one step together). Then times
`GET /hosts/pve0000/series.json?range=1y` (and `&guest=`) through Django's whole stack with the
test client, warm, median and max of repeats.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench.history_points import history_points
from bench.pages import fresh_database


def real_rows(host_id: int, days: int, now: datetime) -> dict[int, tuple[bytes, bytes]]:
    """start -> (data, guests) of the day rows of a simulated host's year of hourly points."""
    from bench.payloads import Host as Simulated
    from metrics import rollupformat

    rows = {}
    for buckets in history_points(host_id, Simulated(0, "pve0000"), now, days, 0):
        span: dict = {}
        guests: dict = {}
        first = None
        for (_, step, start), (row, guest_row) in sorted(buckets.items()):
            first = rollupformat.span_start(start, step) if first is None else first
            slot = (start - first) // step
            rollupformat.put_row(span, slot, row)
            rollupformat.put_guests(guests, slot, guest_row)
        if first is not None:
            rows[first] = (rollupformat.encode(span), rollupformat.encode_guests(guests))
    return rows


def series(args) -> dict:
    fresh_database("proxmon-series-")
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client

    from bench.pages import timed
    from hosts.models import Host
    from metrics import rollups
    from metrics.models import Rollup

    now = datetime.now(UTC)
    Host.objects.bulk_create(Host(name=f"pve{i:04d}", token_hash="x") for i in range(args.hosts))
    queried = Host.objects.get(name="pve0000")
    began = time.perf_counter()
    real = real_rows(queried.pk, args.days, now)
    built = time.perf_counter() - began
    days = sorted(real)
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
            [(start, *real[start]) for start in days],
        )
        # as the pass writes them: every host's row of a day, then the next day's
        cursor.execute(
            "WITH RECURSIVE days (start) AS (SELECT %s UNION ALL"
            " SELECT start + 86400 FROM days WHERE start < %s)"
            " INSERT INTO metrics_rollup (host_id, step, start, data, guests)"
            " SELECT h.id, 3600, days.start, COALESCE(r.data, %s), r.guests"
            " FROM days CROSS JOIN hosts_host h"
            " LEFT JOIN bench_real r ON r.start = days.start AND h.id = %s"
            " ORDER BY days.start, h.id",
            [days[0], days[-1], b"{}", queried.pk],
        )
    filled = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    connection.close()  # the requests get a connection as the server opens it (its pragmas)
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    vmid = next(iter(rollups.decode_guests(real[days[-1]][1])))
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
