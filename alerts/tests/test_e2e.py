"""Real server processes, the agent socket over real sockets, channels on real HTTP receivers."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from alerts.tests.receiver import Receiver
from metrics.tests import frames
from metrics.tests.test_e2e import join, now_frame

pytestmark = pytest.mark.e2e

FAST = {
    "PROXMON_ALERT_SWEEP_S": "0.5",
    "PROXMON_ALERT_POLL_S": "0.1",
    "PROXMON_ALERT_LEASE_S": "2",
    "PROXMON_ALERT_RETRY_BASE_S": "0.2",
    "PROXMON_ALERT_RETRY_MAX_S": "1",
}


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*args, **kwargs) -> Receiver:
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def sample(seq: int, health: str = "ONLINE") -> str:
    frame = now_frame("fast", seq)
    frame["data"]["zfs_pools"]["pools"][0]["health"] = health
    if health != "ONLINE":
        frame["data"]["zfs_pools"]["pools"][0]["degraded_vdevs"] = 1
    return json.dumps(frame)


async def send(ws, seq: int, health: str = "ONLINE") -> None:
    await ws.send(sample(seq, health))
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": seq}


def deliveries(server) -> list[tuple]:
    return server.query("SELECT state, attempts, title FROM alerts_delivery ORDER BY id")


async def test_degraded_pool_pages_once_resolves_once_and_a_silenced_host_pages_nothing(
    live_server_factory, receivers
):
    server = live_server_factory(**FAST).start()
    receiver = receivers()
    server.manage("add_channel", "ops", receiver.url("proxmon"))
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    await send(ws, 1)
    await send(ws, 2, "DEGRADED")
    (request,) = receiver.wait_for(1)
    assert request["path"] == "/proxmon"
    assert request["json"]["title"] == "pve1: rpool DEGRADED"
    first = request["json"]["message"].splitlines()[0]
    assert first.startswith("[critical] pve1: rpool DEGRADED since ")
    assert request["headers"]["Idempotency-Key"]

    await send(ws, 3)
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    assert requests[1]["json"]["message"].startswith("[resolved] pve1: rpool DEGRADED, since ")

    server.manage("silence", "pve1", "--minutes", "30", "--reason", "reboot")
    await send(ws, 4, "DEGRADED")
    fired = "SELECT count(*) FROM alerts_transition WHERE kind = 'fired'"
    assert server.wait_for(lambda: server.query(fired)[0][0] == 2)
    assert len(deliveries(server)) == 2  # the silenced episode wrote no message to send
    assert server.query("SELECT state FROM alerts_alert WHERE rule = 'pool_health'") == [
        ("firing",)
    ]
    await ws.close()
    assert len(receiver.requests) == 2


async def test_channel_that_never_answers_does_not_hold_back_the_others(
    live_server_factory, receivers
):
    server = live_server_factory(**FAST).start()
    dead, ops = receivers(hang=True), receivers()
    server.manage("add_channel", "dead", dead.url("dead", rto="2"))
    server.manage("add_channel", "ops", ops.url("ops"))
    token = server.add_host("pve1")
    async with connect(server.url, max_size=None) as ws:
        await ws.send(json.dumps(frames.join("pve1", token)))
        assert json.loads(await ws.recv())["type"] == "joined"
        await send(ws, 1, "DEGRADED")
        assert dead.wait_for(1)  # its request hangs from now on
        assert len(ops.wait_for(1)) == 1
        delivered = "SELECT count(*) FROM alerts_delivery WHERE state = 'delivered'"
        assert server.wait_for(lambda: server.query(delivered)[0][0] == 1)
        assert dead.hang.is_set()
        failing = "SELECT last_error FROM alerts_channel WHERE name = 'dead' AND last_error != ''"
        assert server.wait_for(lambda: server.query(failing), timeout=30)
        pending = "SELECT state FROM alerts_delivery d JOIN alerts_channel c ON c.id = d.channel_id"
        assert server.query(pending + " WHERE c.name = 'dead'") == [("pending",)]


async def test_server_killed_before_delivery_delivers_once_after_restart(
    live_server_factory, receivers
):
    server = live_server_factory(**FAST).start()
    receiver = receivers(statuses=[500] * 10_000)  # down for now
    server.manage("add_channel", "ops", receiver.url())
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    await send(ws, 1, "DEGRADED")
    assert server.wait_for(lambda: deliveries(server) and deliveries(server)[0][1] >= 1)
    server.kill()  # kill -9: no clean-up, the lease stays with the dead process
    receiver.statuses.clear()  # the receiver is back
    server.start()
    delivered = lambda: deliveries(server)[0][0] == "delivered"  # noqa: E731
    assert server.wait_for(delivered, timeout=30)
    answered_ok = receiver.requests[-1]
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert len(keys) == 1  # every attempt of the one message carries its key
    assert answered_ok["json"]["title"] == "pve1: rpool DEGRADED"
    assert len(deliveries(server)) == 1


async def test_two_server_processes_send_each_message_once(live_server_factory, receivers):
    first = live_server_factory(**FAST).start()
    second = live_server_factory(share=first, **FAST).start()
    receiver = receivers()
    first.manage("add_channel", "ops", receiver.url())
    token_1, token_2 = first.add_host("pve1"), first.add_host("pve2")
    ws1 = await join(first, "pve1", token_1)
    ws2 = await join(second, "pve2", token_2)
    await send(ws1, 1, "DEGRADED")
    await send(ws2, 1, "DEGRADED")
    delivered = "SELECT count(*) FROM alerts_delivery WHERE state = 'delivered'"
    assert first.wait_for(lambda: first.query(delivered)[0][0] == 2)
    assert first.query("SELECT attempts FROM alerts_delivery") == [(1,), (1,)]
    titles = sorted(r["json"]["title"] for r in receiver.wait_for(2))
    assert titles == ["pve1: rpool DEGRADED", "pve2: rpool DEGRADED"]
    await ws1.close()
    await ws2.close()


async def test_server_pings_the_heartbeat_url(live_server_factory, receivers):
    receiver = receivers()
    url = f"http://127.0.0.1:{receiver.port}/ping/abc-token"
    live_server_factory(PROXMON_HEARTBEAT_URL=url, PROXMON_HEARTBEAT_EVERY_S="1", **FAST).start()
    pings = receiver.wait_for(2)
    assert [p["path"] for p in pings[:2]] == ["/ping/abc-token"] * 2


async def test_agent_gone_past_the_offline_delay_pages_offline_and_back_resolves(
    live_server_factory, receivers
):
    server = live_server_factory(PROXMON_ALERT_OFFLINE_DELAY_S="1", **FAST).start()
    receiver = receivers()
    server.manage("add_channel", "ops", receiver.url())
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)
    await send(ws, 1)
    await ws.close()
    (offline,) = receiver.wait_for(1)
    assert offline["json"]["message"].startswith("[critical] pve1: offline since ")
    ws = await join(server, "pve1", token)
    await send(ws, 2)
    requests = receiver.wait_for(2)
    assert requests[1]["json"]["message"].startswith("[resolved] pve1: offline, since ")
    await ws.close()
