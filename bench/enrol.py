"""Simulated hosts registered on a LiveServer, and warmed up as a fleet that has reported before.

Used by bench/scale.py and bench/retention.py: `make_hosts` registers N hosts in one
`manage.py shell` run and writes their tokens; `warm` stores one sample per tier per host
through the real ingest path, with the payloads bench/fleet.py will send.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveserver import LiveServer

# The mix of bench/pages.py, without "offline" (an agent that leaves would skew the count).
SCENARIOS = ("healthy",) * 8 + ("degraded", "full", "updates", "stale-snapshots")

MAKE_HOSTS = """
from django.db import transaction
from hosts.models import Host, hash_token, new_token
scenarios = {scenarios!r}
rows, lines = [], []
for i in range({n}):
    name, token = "{prefix}%05d" % i, new_token()
    rows.append(Host(name=name, token_hash=hash_token(token)))
    lines.append("%s %s %s" % (name, token, scenarios[i % len(scenarios)]))
with transaction.atomic():
    Host.objects.bulk_create(rows, batch_size=500)
with open({path!r}, "w") as out:
    out.write("\\n".join(lines) + "\\n")
"""


def raise_fd_limit() -> int:
    """Soft limit up to the hard one; child processes (server, fleet) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def make_hosts(server: LiveServer, count: int, path: Path, prefix: str = "bench") -> float:
    """Register `count` hosts in one shell run; writes `name token scenario` lines to `path`."""
    started = time.perf_counter()
    server.manage(
        "shell",
        "-c",
        MAKE_HOSTS.format(n=count, path=str(path), scenarios=SCENARIOS, prefix=prefix),
    )
    return time.perf_counter() - started


# What hosts that have reported for days already have: a guest index, latest samples, summaries,
# keyframes and alerts. One sample per tier per host through the real ingest path, 10 minutes
# ago, with the payloads bench/fleet.py will send (same index, name and scenario), so the
# fleet's first samples cost what samples of a known host cost.
WARM = """
import time
from datetime import UTC, datetime, timedelta
from bench.payloads import rfc3339
from {module} import {kind} as Simulated
from hosts.models import Host
from metrics.ingest import Pending
from metrics.writer import ingest_many
began = time.perf_counter()
known = {{name: (pk, token_hash) for name, pk, token_hash in
         Host.objects.values_list("name", "id", "token_hash")}}
when = datetime.now(UTC) - timedelta(minutes=10)
batch = []
def store(batch):
    failed = [r for r in ingest_many(batch) if isinstance(r, Exception)]
    if failed:
        raise failed[0]
for i, line in enumerate(open({tokens!r}).read().splitlines()):
    name, _, scenario = line.split()
    simulated = Simulated(i, name, scenario)
    pk, token_hash = known[name]
    for seq, tier in enumerate(("fast", "medium", "slow")):
        frame = {{"type": "sample", "seq": seq, "tier": tier, "collected_at": rfc3339(when),
                 "data": simulated.data(tier, when), "errors": {{}}}}
        batch.append(Pending(pk, token_hash, frame, when, None))
    if len(batch) >= 60:  # group commit, as the server stores them
        store(batch)
        batch = []
store(batch)
# ... and their alerts as a server that held them online evaluated them, then offline as a
# server that stopped leaves them: at the fleet's start their alerts exist, as after a restart
from django.conf import settings
from alerts import engine
from hosts.models import OFFLINE
if settings.PROXMON_ALERTS:
    Host.objects.update(status="online", last_seen_at=when)
    engine.sweep(now=when)
    Host.objects.update(**OFFLINE)
print(round(time.perf_counter() - began, 1))
"""


def warm(server: LiveServer, tokens: Path, shared: bool = False) -> float:
    """Run WARM for the hosts of a tokens file; returns its seconds. `shared`: the payloads of
    bench.fleet --shared-payloads (bench/frames.py), else those of bench/payloads.py."""
    module, kind = ("bench.frames", "SharedHost") if shared else ("bench.payloads", "Host")
    script = WARM.format(tokens=str(tokens), module=module, kind=kind)
    return float(server.manage("shell", "-c", script, timeout=1800).split()[-1])
