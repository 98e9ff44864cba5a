"""Several server processes behind one proxy, sharing one database and Redis."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import urllib.parse
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from metrics.tests.test_e2e import close_code, join, now_frame

pytestmark = pytest.mark.e2e

PASSWORD = "scale-out-password-1"


@pytest.fixture
def pair(live_server_factory, redis_url):
    """Two processes of one proxmon: same database, same channel layer."""
    first = live_server_factory(
        REDIS_URL=redis_url,
        # so only the channel layer can be what kicks (no full check, no kick-row poll)
        PROXMON_CONNECTION_CHECK_S="3600",
        PROXMON_KICK_POLL_S="3600",
        PROXMON_HEARTBEAT_S="0.3",
        PROXMON_ADMIN_PASSWORD=PASSWORD,
    )
    second = live_server_factory(
        share=first,
        REDIS_URL=redis_url,
        PROXMON_CONNECTION_CHECK_S="3600",
        PROXMON_KICK_POLL_S="3600",
        PROXMON_HEARTBEAT_S="0.3",
    )
    return first.start(), second.start()


async def test_revocation_from_a_shell_kicks_an_agent_on_another_process_at_once(pair):
    first, second = pair
    token = first.add_host("pve1")
    ws = await join(first, "pve1", token)
    await asyncio.to_thread(second.manage, "revoke_token", "pve1")
    assert (await close_code(ws, timeout=5))[0] == 4401


async def test_join_on_another_process_replaces_the_first_connection(pair):
    first, second = pair
    token = first.add_host("pve1")
    old = await join(first, "pve1", token)
    new = await join(second, "pve1", token)
    assert (await close_code(old, timeout=5))[0] == 4409
    await new.send(json.dumps(now_frame("fast", 1)))
    assert json.loads(await new.recv()) == {"type": "ack", "seq": 1}
    assert first.host_status("pve1") == "online"
    await new.close()


def login_cookie(server) -> str:
    """Log in over HTTP like a browser; returns the Cookie header for the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(server.http_url + "/login/").read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode(
        {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/"}
    ).encode()
    request = urllib.request.Request(
        server.http_url + "/login/", data=body, headers={"Referer": server.http_url + "/login/"}
    )
    opener.open(request).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


async def test_live_update_reaches_a_dashboard_on_another_process(pair):
    first, second = pair
    first.manage("ensure_admin")
    cookie = await asyncio.to_thread(login_cookie, second)
    token = first.add_host("pve1")
    async with connect(
        second.url.replace("/ws/agent", "/ws/dashboard"),
        additional_headers={"Cookie": cookie, "Origin": second.http_url},
    ) as dashboard:
        ws = await join(first, "pve1", token)
        message = json.loads(await asyncio.wait_for(dashboard.recv(), 10))
        assert message == {"type": "changed", "hosts": ["pve1"]}
        await ws.send(json.dumps(now_frame("fast", 1)))
        assert json.loads(await ws.recv())["type"] == "ack"
        message = json.loads(await asyncio.wait_for(dashboard.recv(), 10))
        assert message["hosts"] == ["pve1"]
        await ws.close()


async def test_dashboard_socket_needs_a_login(pair):
    first, _ = pair
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            first.url.replace("/ws/agent", "/ws/dashboard"),
            additional_headers={"Origin": first.http_url},
        )
    assert refused.value.response.status_code == 403


async def test_hosts_of_a_crashed_process_go_offline_while_the_other_serves(pair):
    first, second = pair
    token1, token2 = first.add_host("pve1"), first.add_host("pve2")
    ws1 = await join(first, "pve1", token1)
    ws2 = await join(second, "pve2", token2)
    await asyncio.to_thread(first.kill)
    ws1.transport.abort()
    assert await asyncio.to_thread(
        second.wait_for, lambda: second.host_status("pve1") == "offline", 10
    )
    assert second.host_status("pve2") == "online"
    await ws2.send(json.dumps(now_frame("fast", 1)))
    assert json.loads(await ws2.recv())["type"] == "ack"
    await ws2.close()
