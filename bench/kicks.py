"""How soon a revocation made outside the server process closes the live agent.

    .venv/bin/python -m bench.kicks --hosts 200 --revoke 20

Starts a real server (`manage.py serve`; the database of DATABASE_URL's engine, SQLite by
default, and REDIS_URL's channel layer if set), joins `--hosts` agents, then revokes
`--revoke` of them one after another the way `manage.py revoke_token` does from a shell: a new
token hash and a Kick row in one transaction, written straight to the database by this
process, so no channel-layer message can reach the server (on Redis neither: this measures the
kick poll, PROXMON_KICK_POLL_S). Reports the time from that commit to the agent's close (4401).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.joins import join, serve_hosts  # noqa: E402
from liveserver import LiveServer  # noqa: E402


async def closed(ws) -> int:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006


def revoke(server: LiveServer, name: str) -> None:
    """What Host.revoke_token() commits, in one transaction, from outside the server."""
    now = datetime.now(UTC).isoformat()
    [(host_id,)] = server.query("SELECT id FROM hosts_host WHERE name = ?", name)
    if server.postgres_url:
        import psycopg

        with psycopg.connect(server.postgres_url) as db, db.transaction():
            db.execute("UPDATE hosts_host SET token_hash = 'revoked' WHERE id = %s", (host_id,))
            db.execute(
                "INSERT INTO metrics_kick (host_id, created_at) VALUES (%s, %s)", (host_id, now)
            )
        return
    import sqlite3

    with sqlite3.connect(server.db_path, timeout=20) as lite:
        lite.execute("UPDATE hosts_host SET token_hash = 'revoked' WHERE id = ?", (host_id,))
        lite.execute("INSERT INTO metrics_kick (host_id, created_at) VALUES (?, ?)", (host_id, now))


async def main(hosts: int, revocations: int) -> None:
    server, agents = serve_hosts(hosts)
    try:
        sockets = await asyncio.gather(*(join(server.url, n, t) for n, t in agents))
        delays, codes = [], set()
        for (name, _), ws in list(zip(agents, sockets, strict=True))[:revocations]:
            watch = asyncio.create_task(closed(ws))
            await asyncio.to_thread(revoke, server, name)
            start = time.perf_counter()
            codes.add(await asyncio.wait_for(watch, 60))
            delays.append(time.perf_counter() - start)
            await asyncio.sleep(0.137)  # land anywhere in the next poll's interval
        print(
            f"{server.engine}, {hosts} agents connected, {revocations} revocations from outside "
            f"the server: commit to close median {statistics.median(delays) * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms; close codes {sorted(codes)}"
        )
        for ws in sockets[revocations:]:
            await ws.close()
    finally:
        server.stop()
        server.drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--revoke", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.hosts, args.revoke))
