"""A real daphne process (`manage.py serve`) and the `websockets` client over real sockets."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from metrics.tests import frames

pytestmark = pytest.mark.e2e


def now_frame(tier: str, seq: int, offset_s: float = 0) -> dict:
    moment = datetime.now(UTC) + timedelta(seconds=offset_s)
    return frames.sample(tier, seq, moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


async def join(server, name: str, token: str):
    ws = await connect(server.url, max_size=None)
    await ws.send(json.dumps(frames.join(name, token)))
    reply = json.loads(await ws.recv())
    assert reply["type"] == "joined", reply
    return ws


async def close_code(ws, timeout: float = 10) -> tuple[int, str]:
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006, exc.rcvd.reason if exc.rcvd else ""


@pytest.fixture
def server(live_server_factory):
    return live_server_factory().start()


async def test_agent_joins_sends_samples_gets_acks_and_goes_offline_on_disconnect(server):
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    assert server.host_status("pve1") == "online"
    for seq, tier in enumerate(("fast", "medium", "slow"), start=1):
        await ws.send(json.dumps(now_frame(tier, seq)))
        assert json.loads(await ws.recv()) == {"type": "ack", "seq": seq}
    if server.engine == "sqlite":
        assert server.query("PRAGMA journal_mode") == [("wal",)]
    rows = server.query("SELECT tier FROM metrics_sample ORDER BY tier")
    assert [r[0] for r in rows] == ["fast", "medium", "slow"]
    versions = server.query("SELECT pve_version, zfs_version FROM hosts_host")
    assert versions == [("8.4.14", "2.2.8-pve1")]
    await ws.close()
    assert server.wait_for(lambda: server.host_status("pve1") == "offline")


async def test_silent_agent_is_closed_and_goes_offline(live_server_factory):
    server = live_server_factory(PROXMON_PING_INTERVAL_S="0.5", PROXMON_PING_TIMEOUT_S="1").start()
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    ws.transport.pause_reading()  # answers no ping from now on
    assert server.wait_for(lambda: server.host_status("pve1") == "offline", timeout=15)
    ws.transport.abort()


async def test_frame_over_the_limit_closes_1009_and_bad_utf8_closes_1007(live_server_factory):
    server = live_server_factory(PROXMON_MAX_FRAME_BYTES="65536").start()
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    big = now_frame("fast", 1)
    big["data"]["zfs_pools"]["raw"] = {"padding": "x" * 70000}
    await ws.send(json.dumps(big))
    assert (await close_code(ws))[0] == 1009
    assert server.wait_for(lambda: server.host_status("pve1") == "offline")

    ws = await join(server, "pve1", token)
    await ws.send(b"{\xff}", text=True)
    assert (await close_code(ws))[0] == 1007

    # checked once the message is whole: a big frame, not ASCII, valid; then one letter cut
    ws = await join(server, "pve1", token)
    frame = now_frame("fast", 2)
    frame["data"]["zfs_pools"]["raw"] = {"note": "straße " * 1000}
    text = json.dumps(frame, ensure_ascii=False).encode()
    assert len(text) > 4096 and not text.isascii()
    await ws.send(text, text=True)
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 2}
    head, _, tail = text.rpartition("ß".encode())
    await ws.send(head + b"\xc3(" + tail, text=True)
    assert (await close_code(ws))[0] == 1007


async def test_close_reasons_reach_the_agent(server):
    token = server.add_host("pve1")
    ws = await connect(server.url)
    await ws.send(json.dumps(frames.join("pve1", token, protocol=7)))
    assert await close_code(ws) == (4426, "supported protocols: 1")


async def test_garbage_from_one_agent_does_not_disturb_another(server):
    token = server.add_host("pve1")
    good = await join(server, "pve1", token)
    for garbage in (b"\x00\x01", "[" * 50000, '{"type": "x"}', "null", "1e999999"):
        bad = await connect(server.url)
        await bad.send(garbage)
        assert (await close_code(bad))[0] == 4400
    await good.send(json.dumps(now_frame("fast", 1)))
    assert json.loads(await good.recv()) == {"type": "ack", "seq": 1}
    await good.close()


async def test_revoke_token_from_a_shell_kicks_the_live_agent(live_server_factory):
    server = live_server_factory(PROXMON_CONNECTION_CHECK_S="0.3").start()
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    await asyncio.to_thread(server.manage, "revoke_token", "pve1")
    assert (await close_code(ws))[0] == 4401
    assert server.wait_for(lambda: server.host_status("pve1") == "offline")


async def test_clean_shutdown_takes_hosts_offline(server):
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    assert server.host_status("pve1") == "online"
    await asyncio.to_thread(server.stop)
    assert server.host_status("pve1") == "offline"
    ws.transport.abort()


async def test_after_a_crash_no_host_stays_online(server):
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    await asyncio.to_thread(server.kill)
    ws.transport.abort()
    assert server.host_status("pve1") == "online"  # nobody was left to say otherwise
    await asyncio.to_thread(server.start)
    assert server.host_status("pve1") == "offline"  # swept at start-up, before any agent
    ws = await join(server, "pve1", token)
    assert server.host_status("pve1") == "online"
    await ws.close()


async def test_running_server_prunes_old_samples(live_server_factory):
    # Retention prunes only what history has rolled up: the history worker's pass runs every
    # second here, and on PostgreSQL it leaves samples received within
    # PROXMON_HISTORY_SETTLE_S alone (commit order): these were all received just now.
    server = live_server_factory(
        PROXMON_RETENTION_HOURS="1",
        PROXMON_PRUNE_INTERVAL_S="1",
        PROXMON_HEARTBEAT_S="0.2",
        PROXMON_HISTORY_INTERVAL_S="1",
        PROXMON_HISTORY_SETTLE_S="0",
    ).start()
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    for seq, hours_ago in enumerate((3, 2, 0), start=1):
        await ws.send(json.dumps(now_frame("fast", seq, offset_s=-3600 * hours_ago)))
        assert json.loads(await ws.recv())["type"] == "ack"

    def remaining():
        return server.query("SELECT COUNT(*) FROM metrics_sample")[0][0] == 1

    assert server.wait_for(remaining, timeout=10)
    await ws.close()
