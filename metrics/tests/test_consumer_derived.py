"""The agent socket in-process: what ingest derives from the samples it stores (host versions,
the guest index, the latest sample, the clock skew). The samples themselves: test_consumer.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from metrics.models import Guest, LatestSample
from metrics.tests import frames
from metrics.tests.agents import get_host, joined_pair

pytestmark = pytest.mark.django_db(transaction=True)


async def test_system_sample_updates_host_versions(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    await agent.send_json_to(frames.sample("slow"))
    assert (await agent.receive_json_from())["type"] == "ack"
    fresh = await database_sync_to_async(get_host)()
    assert (fresh.pve_version, fresh.zfs_version, fresh.kernel) == (
        "8.4.14",
        "2.2.8-pve1",
        "6.8.12-15-pve",
    )


def guest_index():
    return {g.vmid: g for g in Guest.objects.filter(host__name="pve1").order_by("vmid")}


async def test_guest_index_follows_runtime_and_config_samples(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    t0 = frames.BASE_TIME
    await agent.send_json_to(frames.sample("fast", 1, t0))
    await agent.send_json_to(frames.sample("medium", 2, t0))
    for _ in range(2):
        assert (await agent.receive_json_from())["type"] == "ack"
    guests = await database_sync_to_async(guest_index)()
    assert set(guests) == {100, 101}
    assert guests[100].name == "nginx-proxy" and guests[100].status == "running"
    assert guests[100].ips == ["10.0.4.17"]
    assert guests[100].macs == ["bc:24:11:aa:bb:cc"]
    assert guests[100].tags == ["web", "prod"]
    assert guests[101].type == "lxc" and guests[101].status == "stopped"

    # guest 101 is destroyed: the next fast sample no longer lists it
    later = frames.sample("fast", 3, t0 + timedelta(seconds=30))
    later["data"]["guests"] = later["data"]["guests"][:1]
    await agent.send_json_to(later)
    assert (await agent.receive_json_from())["type"] == "ack"
    assert set(await database_sync_to_async(guest_index)()) == {100}

    # an older sample resent after a reconnect does not bring it back
    await agent.send_json_to(frames.sample("fast", 4, t0 - timedelta(seconds=30)))
    assert (await agent.receive_json_from())["type"] == "ack"
    assert set(await database_sync_to_async(guest_index)()) == {100}


async def test_failed_guest_source_keeps_the_index(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    await agent.send_json_to(frames.sample("fast", 1))
    later = frames.sample("fast", 2, frames.BASE_TIME + timedelta(seconds=30))
    del later["data"]["guests"]
    later["errors"] = {"guests": "pvesh: timed out after 20 s"}
    await agent.send_json_to(later)
    for _ in range(2):
        assert (await agent.receive_json_from())["type"] == "ack"
    assert set(await database_sync_to_async(guest_index)()) == {100, 101}


async def test_latest_sample_is_the_newest_not_the_last_received(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    t0 = frames.BASE_TIME
    await agent.send_json_to(frames.sample("fast", 1, t0 + timedelta(seconds=60)))
    await agent.send_json_to(frames.sample("fast", 2, t0))
    for _ in range(2):
        assert (await agent.receive_json_from())["type"] == "ack"
    latest = await database_sync_to_async(
        lambda: LatestSample.objects.get(host__name="pve1", tier="fast")
    )()
    assert latest.collected_at == t0 + timedelta(seconds=60)


async def test_clock_skew_is_recorded_from_steady_delays_not_from_a_backlog(
    make_host, connect_agent
):
    from django.utils import timezone

    host, token, agent = await joined_pair(make_host, connect_agent)
    now = timezone.now()
    # a backlog: collected an hour ago, every 30 s, arriving all at once
    for i in range(3):
        await agent.send_json_to(frames.sample("fast", i, now - timedelta(seconds=3600 - 30 * i)))
        assert (await agent.receive_json_from())["type"] == "ack"
    assert (await database_sync_to_async(get_host)()).clock_skew_s is None
    # live samples, each sent as it is collected, from an agent whose clock runs 120 s behind
    for i in range(3, 5):
        behind = timezone.now() - timedelta(seconds=120)
        await agent.send_json_to(frames.sample("fast", i, behind.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
        assert (await agent.receive_json_from())["type"] == "ack"
    skew = (await database_sync_to_async(get_host)()).clock_skew_s
    assert skew is not None and abs(skew - 120) < 5
