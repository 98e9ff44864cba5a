"""Server CPU per sample, in-process: what one fast sample costs from frame text to commit.

    .venv/bin/python -m bench.ingest --hosts 20 --samples 400
    .venv/bin/python -m bench.ingest --profile 30          # + the top 30 functions (cProfile)
    DATABASE_URL=postgres://... .venv/bin/python -m bench.ingest

Builds fast frames (59 KB: 50 guests, 2 pools with raw JSON, 4 storages; bench/payloads.py)
for `--hosts` hosts 30 s apart, encodes them as the agent would, and then times, one frame
after the other on one thread, the two steps the server runs: `decode_sample` (JSON parse and
schema check) and `ingest` (store, derive, commit), each through `ingest_many` in groups of
`--group` as the consumer's group commit does. Reports the median wall time per sample and the
mean CPU time of the thread (the figure to compare on a shared machine; it includes garbage
collection and SQLite, which run in the same thread). No network, no daphne: the ceiling of one
process's database thread, which the through-daphne figure (bench/scale.py --saturate) can
only approach.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--samples", type=int, default=400, help="timed fast samples in all")
    parser.add_argument("--group", type=int, default=1, help="samples per transaction")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    args = parser.parse_args()
    from bench.pages import setup_django

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/db.sqlite3"
    if url.startswith("postgres"):
        from liveserver import _create_database

        url = _create_database(url, f"proxmon_ingest_{os.getpid()}")
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics.consumers import decode_sample
    from metrics.ingest import Pending
    from metrics.memo import Memo
    from metrics.writer import ingest_many

    hosts = [Host.objects.create(name=f"pve{i:04d}", token_hash="x") for i in range(args.hosts)]
    simulated = [Simulated(i, h.name) for i, h in enumerate(hosts)]
    start = datetime.now(UTC) - timedelta(hours=1)
    rounds = max(1, args.samples // args.hosts)
    frames = []  # (host id, frame text, received_at)
    for r in range(rounds + 1):  # round 0 warms up: keyframes, guest index, summaries
        when = start + timedelta(seconds=30 * r)
        for host, sim in zip(hosts, simulated, strict=True):
            frame = {"type": "sample", "seq": r, "tier": "fast", "collected_at": rfc3339(when),
                     "data": sim.data("fast", when), "errors": {}}  # fmt: skip
            frames.append((host.pk, json.dumps(frame), when + timedelta(seconds=1)))
    warm, timed = frames[: args.hosts], frames[args.hosts :]
    memos = {host.pk: Memo() for host in hosts}  # one per connection, as the consumer keeps
    for host_id, text, received in warm:
        frame, _ = decode_sample(text)
        ingest_many([Pending(host_id, "x", frame, received, None, memos[host_id])])

    decode_s: list[float] = []
    store_s: list[float] = []
    # CPU time of this thread (SQLite and zstd run in it too): unlike the wall clock, it does
    # not grow when other processes share the cores
    decode_cpu = store_cpu = 0.0
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    began = time.perf_counter()
    for first in range(0, len(timed), args.group):
        group = []
        for host_id, text, received in timed[first : first + args.group]:
            t0, c0 = time.perf_counter(), time.thread_time()
            frame, problem = decode_sample(text)
            assert problem is None, problem
            decode_s.append(time.perf_counter() - t0)
            decode_cpu += time.thread_time() - c0
            group.append(Pending(host_id, "x", frame, received, None, memos[host_id]))
        t0, c0 = time.perf_counter(), time.thread_time()
        results = ingest_many(group)
        store_s.append((time.perf_counter() - t0) / len(group))
        store_cpu += time.thread_time() - c0
        assert all(isinstance(r, object) and not isinstance(r, Exception) for r in results)
    elapsed = time.perf_counter() - began
    if profiler:
        profiler.disable()
    ms = lambda values: round(statistics.median(values) * 1000, 2)  # noqa: E731
    report = {
        "engine": connection.vendor,
        "hosts": args.hosts,
        "samples": len(timed),
        "group": args.group,
        "frame_kb": round(statistics.mean(len(t) for _, t, _ in timed) / 1000, 1),
        "decode_ms_median": ms(decode_s),
        "store_ms_median": ms(store_s),
        "whole_ms_mean": round(elapsed / len(timed) * 1000, 2),
        "decode_cpu_ms_mean": round(decode_cpu / len(timed) * 1000, 3),
        "store_cpu_ms_mean": round(store_cpu / len(timed) * 1000, 3),
        "samples_per_s_one_thread": round(len(timed) / elapsed),
    }
    print(json.dumps(report, indent=2))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
