"""The roll-up pass's CPU per fast sample, in-process (`bench.history pass`).

Stores `--samples` fast samples of each of `--hosts` demo hosts (bench/payloads.py: 50 guests,
2 pools, 4 storages), one per host and 30 s, interleaved across hosts as ingest stores them, then
times whole passes (`rollups.roll_up`: read, decompress, extract, merge, read the stored rows,
merge, write) from an empty history, `--chunk` samples per transaction (default: one per host,
as a server with more hosts than PROXMON_HISTORY_CHUNK sees it: each chunk touches each host's
rows once). Reports the best of `--repeats` passes, in microseconds per sample, and how many
history rows a pass wrote.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.pages import fresh_database


def pass_cost(args) -> dict:
    fresh_database("proxmon-pass-")
    from django.db import connection

    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics import rollups
    from metrics.ingest import ingest
    from metrics.models import Rollup, RollupState

    start = datetime.now(UTC) - timedelta(hours=2)
    hosts = [Host.objects.create(name=f"pve{i:04d}", token_hash="x") for i in range(args.hosts)]
    simulated = [Simulated(i, host.name) for i, host in enumerate(hosts)]
    for seq in range(args.samples):
        when = start + timedelta(seconds=30 * seq)
        for host, machine in zip(hosts, simulated, strict=True):
            frame = {"type": "sample", "seq": seq, "tier": "fast", "collected_at": rfc3339(when),
                     "data": machine.data("fast", when), "errors": {}}  # fmt: skip
            ingest(host.pk, "x", frame, when, None)
    if getattr(args, "five_minute_span", None):  # what metrics/rollupformat.py's SPAN weighs
        from metrics import rollupformat

        rollupformat.SPAN[rollupformat.FIVE_MINUTES] = args.five_minute_span
    chunk = args.chunk or args.hosts
    times = []
    for _ in range(args.repeats):
        Rollup.objects.all().delete()
        RollupState.objects.all().delete()
        began = time.perf_counter()
        done = rollups.roll_up(chunk=chunk, pause=0)
        times.append((time.perf_counter() - began) / done * 1e6)
    return {
        "engine": connection.vendor,
        "samples": done,
        "chunk": chunk,
        "history_rows": Rollup.objects.count(),
        "us_per_sample_min": round(min(times)),
        "us_per_sample_all": [round(t) for t in times],
    }


def rewrite_cost(args) -> dict:
    """What the pass pays to add one point to a full day's row (`bench.history rewrite`): decode
    a demo host's day row (24 hourly points, fifty guests), merge a point into its last hour,
    encode it again; best of 5 x 200, in-process."""
    fresh_database("proxmon-rewrite-")
    from bench.history_series import real_rows
    from metrics import rollupformat

    rows = real_rows(1, 2, datetime.now(UTC))
    data, guests = rows[min(rows)]
    vmids = rollupformat.decode_guests(guests)
    row = {"host": [[1, 1.0, 1.0]] * len(rollupformat.HOST_FIELDS)}
    point = {vmid: [[1, 1.0, 1.0], [1, 100, 100]] for vmid in vmids}
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(200):
            span, by_vmid = rollupformat.decode(data), rollupformat.decode_guests(guests)
            rollupformat.put_row(span, 23, row)
            rollupformat.put_guests(by_vmid, 23, point)
            rollupformat.encode(span)
            rollupformat.encode_guests(by_vmid)
        best = min(best, (time.perf_counter() - began) / 200 * 1e6)
    return {
        "points_in_row": len(rollupformat.decode(data)["host"][0]),
        "stored_bytes": {"data": len(data), "guests": len(guests)},
        "us_per_rewrite": round(best),
    }
