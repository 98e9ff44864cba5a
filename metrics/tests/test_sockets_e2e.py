"""A real daphne process (`manage.py serve`): wrong socket paths, the keepalive deadline, and
frames that wait for a slot compressed."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench.enrol import make_hosts
from metrics import codec
from metrics.consumers import SLOT_FRAME_BYTES
from metrics.tests import frames
from metrics.tests.test_e2e import close_code
from metrics.writer import SLOTS

pytestmark = pytest.mark.e2e


# --- a socket nobody serves -----------------------------------------------------------------


async def refused_status(url: str, **options) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, open_timeout=10, **options)
    return refused.value.response.status_code


async def test_wrong_socket_path_is_refused_with_one_log_line_per_attempt(live_server_factory):
    server = live_server_factory().start()
    base = f"ws://127.0.0.1:{server.port}"
    attempts = ["/", "/ws/agentx", "/", "/ws/agentx", "/ws/agent/"]
    for path in attempts:
        assert await refused_status(base + path) == 403
    # A root path the request lies outside of was a ValueError in Channels' router too.
    headers = {"Daphne-Root-Path": "/elsewhere"}
    assert await refused_status(server.url, additional_headers=headers) == 403

    lines = [line for line in server.log().splitlines() if "unknown path" in line]
    assert len(lines) == len(attempts) + 1, server.log()
    assert "WebSocket to unknown path '/ws/agentx' from 127.0.0.1 refused" in lines[1]
    assert "Traceback" not in server.log() and " 500" not in server.log()

    token = server.add_host("pve1")  # the real socket still serves
    ws = await connect(server.url)
    await ws.send(json.dumps(frames.join("pve1", token)))
    assert json.loads(await ws.recv())["type"] == "joined"
    await ws.close()


# --- keepalive: nothing heard for interval + timeout -> offline -------------------------------

INTERVAL_S, TIMEOUT_S = 1.0, 2.0
# How late "offline" may be seen after the deadline: the disconnect's database write and this
# test's polling (every 20 ms). daphne's own keepalive was up to 2.2 s late (its 2 s sweep).
LATE_S = 0.75


async def silent_for(server, name: str, token: str, delay_s: float) -> float:
    """Join after `delay_s`, then answer nothing; seconds from the join to `offline`."""
    await asyncio.sleep(delay_s)
    ws = await connect(server.url, ping_interval=None)  # the client sends no pings of its own
    await ws.send(json.dumps(frames.join(name, token)))
    last_frame = time.monotonic()
    assert json.loads(await ws.recv())["type"] == "joined"
    ws.transport.pause_reading()  # from now on no pong either
    offline = await asyncio.to_thread(
        server.wait_for, lambda: server.host_status(name) == "offline", 15, 0.02
    )
    silent = time.monotonic() - last_frame
    ws.transport.abort()
    assert offline
    return silent


async def test_silent_agent_goes_offline_when_nothing_was_heard_for_interval_plus_timeout(
    live_server_factory,
):
    server = live_server_factory(
        PROXMON_PING_INTERVAL_S=str(INTERVAL_S), PROXMON_PING_TIMEOUT_S=str(TIMEOUT_S)
    ).start()
    names = ["pve1", "pve2", "pve3", "pve4"]
    tokens = [server.add_host(name) for name in names]
    # Joins half a second apart: a check on a coarse sweep would be late for some of them.
    silences = await asyncio.gather(
        *(
            silent_for(server, name, token, 0.5 * index)
            for index, (name, token) in enumerate(zip(names, tokens, strict=True))
        )
    )
    deadline = INTERVAL_S + TIMEOUT_S
    for silence in silences:
        assert deadline - 0.05 <= silence <= deadline + LATE_S, silences


async def test_agent_that_only_answers_pings_stays_online(live_server_factory):
    server = live_server_factory(
        PROXMON_PING_INTERVAL_S=str(INTERVAL_S), PROXMON_PING_TIMEOUT_S=str(TIMEOUT_S)
    ).start()
    token = server.add_host("pve1")
    ws = await connect(server.url, ping_interval=None)  # reads on, so it answers pings
    await ws.send(json.dumps(frames.join("pve1", token)))
    assert json.loads(await ws.recv())["type"] == "joined"
    await asyncio.sleep(2 * (INTERVAL_S + TIMEOUT_S))  # two deadlines without a frame
    assert server.host_status("pve1") == "online"
    await ws.send(json.dumps(frames.sample("slow", seq=1)))
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 1}
    await ws.close()


# --- a writer that is behind: big frames wait compressed --------------------------------------


def big_sample(seq: int) -> dict:
    """A fast sample over SLOT_FRAME_BYTES (the fixture's guests, ten times over)."""
    data = copy.deepcopy(frames.DATA["fast"])
    guests = data["guests"]
    data["guests"] = [{**g, "vmid": g["vmid"] + 1000 * n} for n in range(10) for g in guests]
    sample = frames.sample("fast", seq, frames.BASE_TIME + timedelta(seconds=30 * seq), data=data)
    assert len(json.dumps(sample)) >= SLOT_FRAME_BYTES
    return sample


async def test_frames_arriving_while_every_slot_is_taken_wait_compressed_and_are_stored_as_sent(
    live_server_factory, tmp_path
):
    server = live_server_factory().start()
    count = SLOTS + 20
    make_hosts(server, count, tmp_path / "tokens")
    hosts = [line.split()[:2] for line in (tmp_path / "tokens").read_text().splitlines()]
    agents = []
    for name, token in hosts:
        ws = await connect(server.url, max_size=None)
        await ws.send(json.dumps(frames.join(name, token)))
        assert json.loads(await ws.recv())["type"] == "joined"
        agents.append(ws)
    # Holding the database's lock on samples stalls the writer: each agent's first sample keeps
    # its slot until the lock is gone, the last 20 agents' samples and everybody's second wait.
    sent = {}
    with server.samples_locked():
        for seq in (1, 2):
            for ws in agents:
                sent[ws, seq] = big_sample(seq)
                await ws.send(json.dumps(sent[ws, seq]))
        waited = await asyncio.to_thread(
            server.wait_for, lambda: "agent frames wait compressed" in server.log(), 20, 0.05
        )
        assert waited, server.log()[-2000:]
        # a big frame that is not UTF-8 is closed as it comes, not packed to wait
        stray = await connect(server.url, max_size=None)
        await stray.send(json.dumps(big_sample(1)).encode()[:-2] + b"\xff}", text=True)
        assert (await close_code(stray))[0] == 1007

    for ws in agents:
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in (1, 2)]
        assert replies == [{"type": "ack", "seq": 1}, {"type": "ack", "seq": 2}]
        await ws.close()
    # the last agent's samples waited compressed: stored as it sent them
    rows = server.query(
        "SELECT s.body, k.data FROM metrics_sample s JOIN metrics_keyframe k"
        " ON k.id = s.keyframe_id JOIN hosts_host h ON h.id = s.host_id"
        " WHERE h.name = ? ORDER BY s.collected_at",
        hosts[-1][0],
    )
    assert [codec.decode(body, keyframe)["data"] for body, keyframe in rows] == [
        sent[agents[-1], seq]["data"] for seq in (1, 2)
    ]
