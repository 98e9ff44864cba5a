"""How long agents take to join: one at a time, and all at once after a server restart.

    .venv/bin/python -m bench.joins --hosts 1000
    .venv/bin/python -m bench.joins --hosts 2000 --rounds 0 --profile var/joins.raw  # py-spy --gil

Starts a real server (`manage.py serve`, SQLite, the production bcrypt cost), registers the
hosts, then measures (1) single joins one after another: connect, join frame, `joined`, token
check included; (2) a burst where every agent connects and joins at the same moment, as after
a server restart, until the last `joined` and until the database shows every host online.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profiling import profile, summarize_profile  # noqa: E402
from liveserver import LiveServer  # noqa: E402

MAKE_HOSTS = """
import sys
from hosts.models import Host
hosts = [Host(name="bench%05d" % i) for i in range({n})]
Host.objects.bulk_create(hosts)
with open({path!r}, "w") as out:
    for host in Host.objects.filter(name__startswith="bench").order_by("name"):
        out.write(host.name + " " + host.issue_token() + "\\n")
"""


async def join(url: str, name: str, token: str):
    ws = await connect(url, open_timeout=60, ping_interval=None)
    await ws.send(
        json.dumps(
            {"type": "join", "protocol": 1, "host": name, "token": token, "agent_version": "bench"}
        )
    )
    reply = json.loads(await ws.recv())
    if reply.get("type") != "joined":
        raise RuntimeError(reply)
    return ws


def serve_hosts(hosts: int) -> tuple[LiveServer, list[list[str]]]:
    """A started server (production bcrypt cost) with `hosts` registered: [name, token] each."""
    workdir = Path(tempfile.mkdtemp(prefix="proxmon-bench-"))
    server = LiveServer(workdir, PROXMON_TOKEN_BCRYPT_ROUNDS="5", PROXMON_LOG_LEVEL="WARNING")
    tokens_path = workdir / "tokens"
    server.manage("shell", "-c", MAKE_HOSTS.format(n=hosts, path=str(tokens_path)))
    agents = [line.split() for line in tokens_path.read_text().splitlines()]
    return server.start(), agents


async def main(hosts: int, rounds: int, profile_path: Path | None = None) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server, agents = serve_hosts(hosts)
    try:
        single = []
        for name, token in agents[:rounds]:
            start = time.perf_counter()
            ws = await join(server.url, name, token)
            single.append(time.perf_counter() - start)
            await ws.close()
        if single:
            print(
                f"single join: median {statistics.median(single) * 1000:.1f} ms, "
                f"p90 {sorted(single)[int(len(single) * 0.9)] * 1000:.1f} ms over {rounds}"
            )
        spy = None
        if profile_path is not None:  # the bursts, only the thread holding the GIL
            assert server.process is not None
            spy = profile(server.process.pid, 30, 0, profile_path, gil=True)
            time.sleep(1)  # py-spy attached
        for count in sorted({min(500, hosts), hosts}):
            start = time.perf_counter()
            sockets = await asyncio.gather(*(join(server.url, n, t) for n, t in agents[:count]))
            joined = time.perf_counter() - start
            online = server.wait_for(
                lambda count=count: (
                    server.query("SELECT COUNT(*) FROM hosts_host WHERE status='online'")[0][0]
                    >= count
                ),
                timeout=60,
                interval=0.01,
            )
            all_online = time.perf_counter() - start
            print(
                f"burst of {count}: all joined in {joined:.2f} s, "
                f"all online in the database after {all_online:.2f} s "
                f"({'ok' if online else 'NOT ALL'})"
            )
            await asyncio.gather(*(ws.close() for ws in sockets))
            server.wait_for(
                lambda: (
                    server.query("SELECT COUNT(*) FROM hosts_host WHERE status='online'")[0][0] == 0
                ),
                timeout=60,
            )
        if spy is not None and profile_path is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has
            spy.wait()
            print(json.dumps(summarize_profile(profile_path), indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50, help="single joins to time")
    parser.add_argument("--profile", type=Path, help="py-spy record the bursts (GIL) to this file")
    args = parser.parse_args()
    asyncio.run(main(args.hosts, args.rounds, args.profile))
