"""A real daphne process (`manage.py serve`): wrong socket paths, and the keepalive deadline."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from metrics.tests import frames

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
