"""Bytes on disk per host per day at the default tiers.

    .venv/bin/python -m bench.storage [--hosts 3] [--hours 24]
    DATABASE_URL=postgres://... .venv/bin/python -m bench.storage

Sends a simulated day (fast every 30 s, medium every 5 min, slow every 30 min) of hosts with 50
guests and two pools (bench/payloads.py: real captured outputs, numbers varying per sample)
through the real ingest path into a fresh database, then reports the database's size per host
per day, by table, next to what storing every sample's JSON as sent would take.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIERS = (("fast", 30), ("medium", 300), ("slow", 1800))


def table_sizes(connection) -> dict[str, int]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        else:
            cursor.execute(
                "SELECT relname, pg_total_relation_size(relid)"
                " FROM pg_catalog.pg_statio_user_tables"
            )
        return {name: int(size) for name, size in cursor.fetchall()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--hours", type=float, default=24)
    args = parser.parse_args()
    from bench.pages import setup_django

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/db.sqlite3"
    if url.startswith("postgres"):
        from liveserver import _create_database

        url = _create_database(url, f"proxmon_storage_{os.getpid()}")
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics.ingest import ingest

    start = datetime.now(UTC) - timedelta(hours=args.hours)
    naive = 0
    samples = 0
    began = time.perf_counter()
    for i in range(args.hosts):
        host = Host.objects.create(name=f"pve{i}", token_hash="x")
        simulated = Simulated(i, host.name)
        events = sorted(
            (start + timedelta(seconds=s), tier)
            for tier, step in TIERS
            for s in range(0, int(args.hours * 3600), step)
        )
        for seq, (when, tier) in enumerate(events):
            data = simulated.data(tier, when)
            frame = {"type": "sample", "seq": seq, "tier": tier, "collected_at": rfc3339(when),
                     "data": data, "errors": {}}  # fmt: skip
            naive += len(json.dumps({"data": data, "errors": {}}))
            ingest(host.pk, "x", frame, when + timedelta(seconds=1), None)
            samples += 1
    elapsed = time.perf_counter() - began
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
    else:
        # FULL, as SQLite's VACUUM: rewrite every table without dead rows. The day is simulated
        # in a minute, too fast for autovacuum, so the latest-sample and summary rows (three and
        # one per host, rewritten with every sample) would otherwise count their 3,000 dead
        # versions as if they were a day's growth (13 and 5 MB; on a real timeline autovacuum
        # reclaims them and their space is reused).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM FULL ANALYZE")
    sizes = table_sizes(connection)
    per_day = 24 / args.hours / args.hosts
    ours = {k: v for k, v in sizes.items() if k.startswith(("metrics_", "hosts_"))}
    print(json.dumps({
        "engine": connection.vendor,
        "hosts": args.hosts,
        "hours": args.hours,
        "samples": samples,
        "ingest_ms_per_sample": round(elapsed / samples * 1000, 2),
        "naive_json_mb_per_host_day": round(naive * per_day / 2**20, 2),
        "stored_mb_per_host_day": round(sum(ours.values()) * per_day / 2**20, 2),
        "by_table_mb_per_host_day": {
            k: round(v * per_day / 2**20, 3) for k, v in sorted(ours.items(), key=lambda kv: -kv[1])
            if v * per_day > 10_000
        },
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
