"""Time from a DEGRADED sample to the message at a webhook receiver, through a real server.

    .venv/bin/python -m bench.alerts --rounds 20
    DATABASE_URL=postgres://... .venv/bin/python -m bench.alerts

Starts `manage.py serve` (daphne) on a fresh database with default alert settings, a local
HTTP receiver registered as `json://127.0.0.1:PORT/bench`, and one agent over the real
WebSocket. Each round sends a fast sample whose pool is DEGRADED (the rule's delay is 0) and
times from just before the send to the receiver's arrival of the POST; then a sample back
ONLINE and the same for the resolved message (a new pool name each round). The ingest on/off
comparison is `bench.scale --saturate` with PROXMON_ALERTS=0 and 1 (docs/benchmarks.md).

    .venv/bin/python -m bench.alerts --sweep 1000     # one sweep of 1,000 hosts, in-process

`--sweep N` instead times the periodic sweep (alerts.engine.sweep) over N hosts with the
facts of bench/payloads.py (one in ten with a DEGRADED pool, so alerts exist), once to fire
what is due and then the steady rounds where nothing changes, and one more round paced as
the alert worker runs it (slices of work with rests between, `rest=time.sleep`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sweep", type=int, default=0, metavar="HOSTS")
    args = parser.parse_args()
    if args.sweep:
        sweep(args.sweep)
        return
    from websockets.sync.client import connect

    from alerts.tests.receiver import Receiver
    from liveserver import LiveServer
    from metrics.tests import frames

    receiver = Receiver()
    server = LiveServer(Path(tempfile.mkdtemp(prefix="proxmon-bench-alerts-")))
    server.manage("add_channel", "bench", receiver.url("bench"))
    token = server.add_host("pve1")
    server.start()
    fired: list[float] = []
    resolved: list[float] = []
    seq = 0
    try:
        with connect(server.url, max_size=None) as ws:
            ws.send(json.dumps(frames.join("pve1", token)))
            assert json.loads(ws.recv())["type"] == "joined"
            for round_ in range(args.rounds):
                for health, times in (("DEGRADED", fired), ("ONLINE", resolved)):
                    seq += 1
                    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    frame = frames.sample("fast", seq, now)
                    pool = frame["data"]["zfs_pools"]["pools"][0]
                    # a pool of its own per round: the same one going up and down would be
                    # held as flapping after five changes
                    pool.update(name=f"tank{round_}", health=health)
                    expected = len(receiver.requests) + 1
                    started = time.perf_counter()
                    ws.send(json.dumps(frame))
                    assert json.loads(ws.recv())["type"] == "ack"
                    receiver.wait_for(expected, timeout=30)
                    times.append(time.perf_counter() - started)
                    assert len(receiver.requests) == expected, "no message"
    finally:
        server.stop()
        server.drop()
        receiver.close()
    for name, times in (("DEGRADED -> message", fired), ("ONLINE -> resolved", resolved)):
        ms = sorted(t * 1000 for t in times)
        print(
            f"{name}: n={len(ms)} p50 {statistics.median(ms):.0f} ms,"
            f" p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms"
        )
    print(f"engine: {server.engine}")


def sweep(count: int) -> None:
    from bench.pages import fresh_database

    url = fresh_database("proxmon-sweep-")
    from alerts import engine
    from alerts.models import Alert
    from bench.payloads import Host as Simulated
    from hosts.models import Host
    from metrics.models import HostSummary
    from metrics.summary import compact

    now = datetime.now(UTC)
    for i in range(count):
        sim = Simulated(i, f"pve{i}", "degraded" if i % 10 == 0 else "healthy")
        host = Host.objects.create(name=f"pve{i}", status="online", last_seen_at=now)
        facts = {
            t: compact(t, sim.data(t, now), {}, now, now, None) for t in ("fast", "medium", "slow")
        }
        HostSummary.objects.create(host=host, facts=facts)
    rounds = []
    for _ in range(6):
        started = time.perf_counter()
        engine.sweep(now)
        rounds.append(time.perf_counter() - started)
    firing = Alert.objects.filter(state="firing").count()
    # paced as the alert worker runs it (rests slept here; the worker waits on its event)
    started = time.perf_counter()
    engine.sweep(now, rest=time.sleep)
    paced = time.perf_counter() - started
    if url.startswith("postgres"):
        from django.db import connection

        from liveserver import _drop_database

        connection.close()
        _drop_database(url)
    steady = statistics.median(rounds[1:]) * 1000
    print(
        f"sweep of {count} hosts: first {rounds[0] * 1000:.0f} ms (writes {firing} firing"
        f" alerts), then median {steady:.0f} ms ({steady * 1000 / count:.0f} us per host);"
        f" paced as the alert worker runs it: {paced:.1f} s"
    )


if __name__ == "__main__":
    main()
