"""The agent socket in-process after the join: samples, acks and nacks, garbage. What ingest
derives from them: test_consumer_derived.py; joining and leaving: test_join.py."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from channels.db import database_sync_to_async

from metrics.models import LatestSample, Sample
from metrics.tests import frames
from metrics.tests.agents import joined_pair, send_and_close_code

pytestmark = pytest.mark.django_db(transaction=True)


# --- samples --------------------------------------------------------------------------------


def stored_samples(name="pve1"):
    return list(
        Sample.objects.filter(host__name=name).select_related("keyframe").order_by("collected_at")
    )


async def test_sample_is_acked_after_it_is_committed(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast", seq=42)
    await agent.send_json_to(frame)
    assert await agent.receive_json_from() == {"type": "ack", "seq": 42}
    # read from another connection right after the ack: it is there
    samples = await database_sync_to_async(stored_samples)()
    assert len(samples) == 1
    assert samples[0].tier == "fast"
    assert samples[0].payload == {"data": frame["data"], "errors": {}}


async def test_a_handled_frame_is_not_kept_by_the_connection(make_host, connect_agent):
    """channels' dispatch loop keeps each connection's last message until the next one comes
    (30 s later): the consumer takes the frame out of it, or 5,000 agents' last frames stay."""
    host, token, agent = await joined_pair(make_host, connect_agent)
    text = json.dumps(frames.sample("fast", seq=1))
    held = sys.getrefcount(text)
    await agent.send_to(text_data=text)
    assert await agent.receive_json_from() == {"type": "ack", "seq": 1}
    # after the ack the consumer still tells the dashboards (through Redis: a round trip)
    for _ in range(200):
        if sys.getrefcount(text) == held:
            break
        await asyncio.sleep(0.01)
    assert sys.getrefcount(text) == held


async def test_duplicate_sample_is_acked_again_and_stored_once(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    await agent.send_json_to(frames.sample("fast", seq=1))
    assert await agent.receive_json_from() == {"type": "ack", "seq": 1}
    await agent.send_json_to(frames.sample("fast", seq=2))  # same collected_at: a resend
    assert await agent.receive_json_from() == {"type": "ack", "seq": 2}
    assert len(await database_sync_to_async(stored_samples)()) == 1


async def test_partial_sample_with_errors_is_stored(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    data = frames.sample("fast")["data"]
    del data["zfs_pools"]
    frame = frames.sample("fast", data=data, errors={"zfs_pools": "zpool status: timed out"})
    await agent.send_json_to(frame)
    assert (await agent.receive_json_from())["type"] == "ack"
    latest = await database_sync_to_async(
        lambda: LatestSample.objects.get(host__name="pve1", tier="fast")
    )()
    assert latest.errors == {"zfs_pools": "zpool status: timed out"}
    assert "zfs_pools" not in latest.data


async def test_unknown_keys_and_sources_are_accepted(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast")
    frame["data"]["host"]["future_key"] = {"anything": [1, 2]}
    frame["data"]["smart"] = {"disks": []}
    frame["hint"] = "new optional key"
    await agent.send_json_to(frame)
    assert (await agent.receive_json_from())["type"] == "ack"


def _without(path):
    def mutate(frame):
        *parents, last = path
        target = frame
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def _set(path, value):
    def mutate(frame):
        *parents, last = path
        target = frame
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


# 1e400 is valid JSON that overflows to infinity when parsed.
OVERFLOW = "__overflow__"

NACKS = [
    ("fast", _set(["tier"], "hourly"), "tier: expected one of 'fast', 'medium', 'slow'"),
    ("fast", _set(["tier"], ["fast"]), "tier: expected one of"),
    ("fast", _set(["collected_at"], "2026-04-21 12:00:00"), "collected_at: expected an RFC 3339"),
    ("fast", _set(["collected_at"], "2026-13-45T99:00:00Z"), "collected_at: expected an RFC 3339"),
    ("fast", _without(["collected_at"]), "collected_at: expected an RFC 3339"),
    ("fast", _set(["data"], []), "data: expected an object"),
    ("fast", _set(["errors"], "boom"), "errors: expected an object"),
    ("fast", _set(["errors"], {"host": 5}), "errors.host: expected a string"),
    (
        "fast",
        _set(["data", "host", "mem", "total"], "64G"),
        "data.host.mem.total: expected an integer",
    ),
    (
        "fast",
        _set(["data", "host", "mem", "total"], 1.5),
        "data.host.mem.total: expected an integer",
    ),
    (
        "fast",
        _set(["data", "host", "mem", "total"], True),
        "data.host.mem.total: expected an integer",
    ),
    (
        "fast",
        _set(["data", "host", "mem", "total"], 2**64),
        "data.host.mem.total: expected an integer from 0 to 2^63-1",
    ),
    (
        "fast",
        _set(["data", "host", "mem", "used"], -1),
        "data.host.mem.used: expected an integer from 0",
    ),
    ("fast", _without(["data", "host", "mem", "available"]), "data.host.mem.available: missing"),
    ("fast", _set(["data", "host", "load"], [1, 2]), "data.host.load: expected a list of 3"),
    ("fast", _set(["data", "host", "load"], [1, 2, "x"]), "data.host.load[2]: expected a number"),
    (
        "fast",
        _set(["data", "host", "cpu_percent"], -3),
        "data.host.cpu_percent: expected a percentage",
    ),
    ("fast", _set(["data", "host", "hostname"], None), "data.host.hostname: expected a string"),
    (
        "fast",
        _set(["data", "host", "uptime_s"], OVERFLOW),
        "data.host.uptime_s: expected a finite number",
    ),
    ("fast", _set(["data", "host", "rootfs"], 5), "data.host.rootfs: expected an object"),
    ("fast", _set(["data", "storage"], {}), "data.storage: expected a list"),
    (
        "fast",
        _set(["data", "storage", 0, "enabled"], 1),
        "data.storage[0].enabled: expected true or false",
    ),
    (
        "fast",
        _set(["data", "storage", 0, "content"], "images"),
        "data.storage[0].content: expected a list",
    ),
    (
        "fast",
        _set(["data", "zfs_pools", "pools", 0, "health"], 0),
        "data.zfs_pools.pools[0].health: expected a string",
    ),
    ("fast", _without(["data", "zfs_pools", "pools"]), "data.zfs_pools.pools: missing"),
    (
        "fast",
        _set(["data", "zfs_pools", "pools", 0, "errors", "checksum"], "6"),
        "data.zfs_pools.pools[0].errors.checksum: expected an integer",
    ),
    (
        "fast",
        _set(["data", "zfs_pools", "pools", 0, "scan", "function"], "SCRUB"),
        "data.zfs_pools.pools[0].scan.function: expected one of",
    ),
    (
        "fast",
        _set(["data", "zfs_pools", "pools", 0, "scan", "state"], "done"),
        "data.zfs_pools.pools[0].scan.state: expected one of",
    ),
    (
        "fast",
        _set(["data", "zfs_pools", "pools", 0, "last_scrub_end"], 1712880011),
        "data.zfs_pools.pools[0].last_scrub_end: expected an RFC 3339",
    ),
    (
        "fast",
        _set(["data", "zfs_pools", "raw"], {"x": OVERFLOW}),
        "data.zfs_pools.raw.x: expected a finite number",
    ),
    (
        "fast",
        _set(["data", "guests", 0, "vmid"], "100"),
        "data.guests[0].vmid: expected an integer",
    ),
    (
        "fast",
        _set(["data", "guests", 1, "type"], "vm"),
        "data.guests[1].type: expected one of 'qemu', 'lxc'",
    ),
    (
        "medium",
        _set(["data", "datasets", "datasets", 0, "type"], "snapshot"),
        "data.datasets.datasets[0].type: expected one of",
    ),
    (
        "medium",
        _set(["data", "datasets", "datasets", 0, "snapshot_count"], None),
        "data.datasets.datasets[0].snapshot_count: expected an integer",
    ),
    (
        "medium",
        _set(["data", "guest_configs", 0, "ips"], "10.0.4.17"),
        "data.guest_configs[0].ips: expected a list",
    ),
    (
        "medium",
        _set(["data", "guest_configs", 0, "disks", 0, "size"], "32G"),
        "data.guest_configs[0].disks[0].size: expected an integer",
    ),
    (
        "medium",
        _set(["data", "guest_configs", 0, "onboot"], "yes"),
        "data.guest_configs[0].onboot: expected true or false",
    ),
    (
        "slow",
        _set(["data", "system", "pending_updates"], "12"),
        "data.system.pending_updates: expected an integer",
    ),
    (
        "slow",
        _set(["data", "system", "pve_version"], 8),
        "data.system.pve_version: expected a string",
    ),
]


@pytest.mark.parametrize(("tier", "mutate", "error"), NACKS, ids=[n[2][:60] for n in NACKS])
async def test_invalid_sample_is_nacked_with_its_path_and_not_stored(
    make_host, connect_agent, tier, mutate, error
):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample(tier, seq=7)
    mutate(frame)
    await agent.send_to(text_data=json.dumps(frame).replace(f'"{OVERFLOW}"', "1e400"))
    reply = await agent.receive_json_from()
    assert reply["type"] == "nack" and reply["seq"] == 7
    assert reply["error"].startswith(error), reply["error"]
    assert await database_sync_to_async(stored_samples)() == []
    # the connection stays open and serves the next sample
    await agent.send_json_to(frames.sample("slow", seq=8))
    assert await agent.receive_json_from() == {"type": "ack", "seq": 8}


async def test_deeply_nested_raw_is_nacked(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    nested: dict = {}
    cursor = nested
    for _ in range(100):
        cursor["x"] = {}
        cursor = cursor["x"]
    frame = frames.sample("fast", seq=3)
    frame["data"]["zfs_pools"]["raw"] = nested
    await agent.send_json_to(frame)
    reply = await agent.receive_json_from()
    assert reply["type"] == "nack"
    assert "nested deeper than 64 levels" in reply["error"]


async def test_ten_nacks_in_a_row_close_with_4400(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    for seq in range(9):
        await agent.send_json_to({**frames.sample("fast", seq=seq), "tier": "x"})
        assert (await agent.receive_json_from())["type"] == "nack"
    await agent.send_json_to(frames.sample("fast", seq=100))  # a good one resets the count
    assert (await agent.receive_json_from())["type"] == "ack"
    for seq in range(10):
        await agent.send_json_to({**frames.sample("fast", seq=seq), "tier": "x"})
    assert await agent.closed_with() == 4400


# --- garbage --------------------------------------------------------------------------------


GARBAGE = [
    pytest.param(b"\x00\x01binary", id="binary frame"),
    pytest.param("not json", id="not JSON"),
    pytest.param('{"type": "join", "protocol": 1,', id="truncated JSON"),
    pytest.param("[1, 2, 3]", id="JSON array"),
    pytest.param('"join"', id="JSON string"),
    pytest.param("{}", id="object without type"),
    pytest.param('{"type": 5}', id="non-string type"),
    pytest.param('{"type": "hello"}', id="unknown type before join"),
    pytest.param('{"type": "join", "protocol": NaN}', id="NaN"),
    pytest.param("[" * 100000 + "]" * 100000, id="deeply nested JSON"),
    pytest.param('{"type": "join", "protocol": 1' + "9" * 5000 + "}", id="huge number"),
    pytest.param(frames.sample("fast"), id="sample before join"),
    pytest.param(
        {"type": "join", "protocol": "1", "host": "pve1", "token": "x"}, id="protocol as string"
    ),
    pytest.param({"type": "join", "protocol": 1, "host": 5, "token": "x"}, id="host not a string"),
    pytest.param({"type": "join", "protocol": 1, "host": "pve1"}, id="join without token"),
]


@pytest.mark.parametrize("frame", GARBAGE)
async def test_garbage_before_join_closes_4400_and_server_keeps_serving(
    make_host, connect_agent, frame
):
    _, token = await database_sync_to_async(make_host)("pve1")
    code, _ = await send_and_close_code(frame)
    assert code == 4400
    await connect_agent("pve1", token)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"\xff", id="binary"),
        pytest.param("{", id="bad JSON"),
        pytest.param('{"type": "stats"}', id="unknown type"),
        pytest.param(json.dumps(frames.join("pve1", "x")), id="second join"),
        pytest.param(json.dumps({**frames.sample(), "seq": "1"}), id="seq as string"),
        pytest.param(json.dumps({**frames.sample(), "seq": -1}), id="negative seq"),
        pytest.param(json.dumps({**frames.sample(), "seq": 2**70}), id="huge seq"),
    ],
)
async def test_garbage_after_join_closes_4400(make_host, connect_agent, frame):
    host, token, agent = await joined_pair(make_host, connect_agent)
    if isinstance(frame, bytes):
        await agent.send_to(bytes_data=frame)
    else:
        await agent.send_to(text_data=frame)
    assert await agent.closed_with() == 4400


async def test_frame_over_the_limit_closes_1009(make_host, connect_agent, settings):
    settings.PROXMON_MAX_FRAME_BYTES = 2048
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["raw"] = {"padding": "x" * 4096}
    await agent.send_json_to(frame)
    assert await agent.closed_with() == 1009


async def test_big_frame_is_validated_off_the_event_loop_and_stored(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast", seq=5)
    frame["data"]["zfs_pools"]["raw"] = {"status": {"vdevs": [{"guid": 2**64 - 1}] * 5000}}
    await agent.send_json_to(frame)
    assert await agent.receive_json_from(timeout=10) == {"type": "ack", "seq": 5}
    sample = (await database_sync_to_async(stored_samples)())[0]
    assert sample.payload["data"]["zfs_pools"]["raw"]["status"]["vdevs"][0]["guid"] == 2**64 - 1
