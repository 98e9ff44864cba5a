"""What a sample may leave out and how large its parts may be (docs/protocol.md, "Samples"):
raw output absent or null, text of at most 255 characters (reasons 1,000), numbers within
±(2^63 - 1), lists a guest index row can hold."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from metrics.models import Guest, HostSummary, LatestSample, Sample
from metrics.tests import frames
from metrics.tests.agents import joined_pair

pytestmark = pytest.mark.django_db(transaction=True)

INT64_MAX = 2**63 - 1


def stored(name="pve1"):
    return [s.payload for s in Sample.objects.filter(host__name=name).order_by("tier")]


def facts(name="pve1") -> dict:
    return HostSummary.objects.get(host__name=name).facts


async def send(agent, frame: dict) -> dict:
    await agent.send_to(text_data=json.dumps(frame))
    return await agent.receive_json_from()


def _with_raw(tier: str, source: str, raw: str) -> dict:
    frame = frames.sample(tier, seq=3)
    if raw == "absent":
        del frame["data"][source]["raw"]
    else:
        frame["data"][source]["raw"] = None
    return frame


# --- raw output may be left out -------------------------------------------------------------


@pytest.mark.parametrize("raw", ["absent", "null"])
async def test_medium_sample_without_raw_is_stored_with_its_guest_configs(
    make_host, connect_agent, raw
):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = _with_raw("medium", "datasets", raw)
    assert await send(agent, frame) == {"type": "ack", "seq": 3}
    [payload] = await database_sync_to_async(stored)()
    assert payload["data"] == frame["data"]
    summary = await database_sync_to_async(facts)()
    assert [d["name"] for d in summary["medium"]["datasets"]] == ["rpool/data"]
    guest = await database_sync_to_async(Guest.objects.get)(host__name="pve1", vmid=100)
    assert guest.ips == ["10.0.4.17"] and guest.tags == ["web", "prod"]


@pytest.mark.parametrize("raw", ["absent", "null"])
async def test_fast_sample_without_raw_is_stored_with_its_pools(make_host, connect_agent, raw):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = _with_raw("fast", "zfs_pools", raw)
    assert await send(agent, frame) == {"type": "ack", "seq": 3}
    [payload] = await database_sync_to_async(stored)()
    assert payload["data"] == frame["data"]
    [pool] = (await database_sync_to_async(facts)())["fast"]["pools"]
    assert pool["name"] == "rpool" and pool["health"] == "ONLINE"
    latest = await database_sync_to_async(LatestSample.objects.get)(host__name="pve1", tier="fast")
    assert latest.data["zfs_pools"]["pools"][0]["name"] == "rpool"


@pytest.mark.parametrize("raw", ["absent", "null"])
def test_host_page_shows_pools_of_a_sample_without_raw(admin_client, make_host, raw):
    from metrics.ingest import ingest

    host, _ = make_host("pve1")
    frame = _with_raw("fast", "zfs_pools", raw)
    ingest(host.pk, host.token_hash, frame, frames.BASE_TIME, None)
    page = admin_client.get("/hosts/pve1/")
    assert page.status_code == 200
    assert "rpool" in page.content.decode()


@pytest.mark.parametrize("raw", [[], "zpool status output", 5])
async def test_raw_that_is_not_an_object_is_nacked(make_host, connect_agent, raw):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast", seq=4)
    frame["data"]["zfs_pools"]["raw"] = raw
    reply = await send(agent, frame)
    assert reply == {
        "type": "nack",
        "seq": 4,
        "error": "data.zfs_pools.raw: expected an object or null",
    }


# --- text: 255 characters, reasons 1,000 ----------------------------------------------------


def _set(frame: dict, path: list, value) -> dict:
    target = frame
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return frame


TEXT_FIELDS = [
    ("fast", ["data", "zfs_pools", "pools", 0, "name"], "data.zfs_pools.pools[0].name"),
    ("fast", ["data", "host", "kernel"], "data.host.kernel"),
    ("fast", ["data", "storage", 0, "content", 1], "data.storage[0].content[1]"),
    ("fast", ["data", "guests", 0, "status"], "data.guests[0].status"),
    ("medium", ["data", "datasets", "datasets", 0, "name"], "data.datasets.datasets[0].name"),
    ("medium", ["data", "guest_configs", 0, "tags", 0], "data.guest_configs[0].tags[0]"),
    ("medium", ["data", "guest_configs", 0, "os"], "data.guest_configs[0].os"),
    ("slow", ["data", "system", "pve_version"], "data.system.pve_version"),
]


@pytest.mark.parametrize(("tier", "path", "where"), TEXT_FIELDS, ids=[t[2] for t in TEXT_FIELDS])
async def test_text_of_255_characters_is_acked_and_256_nacked_with_its_path(
    make_host, connect_agent, tier, path, where
):
    host, token, agent = await joined_pair(make_host, connect_agent)
    fits = _set(frames.sample(tier, seq=1), path, "x" * 255)
    assert await send(agent, fits) == {"type": "ack", "seq": 1}
    too_long = _set(
        frames.sample(tier, seq=2, collected_at="2026-04-21T12:05:00Z"), path, "x" * 256
    )
    assert await send(agent, too_long) == {
        "type": "nack",
        "seq": 2,
        "error": f"{where}: expected at most 255 characters",
    }
    assert len(await database_sync_to_async(stored)()) == 1


async def test_megabyte_pool_name_is_nacked_with_a_short_answer(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = _set(
        frames.sample("fast", seq=9), ["data", "zfs_pools", "pools", 0, "name"], "p" * 2**20
    )
    reply = await send(agent, frame)
    assert reply["error"] == "data.zfs_pools.pools[0].name: expected at most 255 characters"
    assert await database_sync_to_async(stored)() == []


async def test_error_reason_of_1000_characters_is_acked_and_1001_nacked(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    data = frames.sample("fast")["data"]
    del data["zfs_pools"]
    fits = frames.sample("fast", seq=1, data=data, errors={"zfs_pools": "e" * 1000})
    assert await send(agent, fits) == {"type": "ack", "seq": 1}
    too_long = frames.sample(
        "fast",
        seq=2,
        collected_at="2026-04-21T12:00:30Z",
        data=data,
        errors={"zfs_pools": "e" * 1001},
    )
    assert await send(agent, too_long) == {
        "type": "nack",
        "seq": 2,
        "error": "errors.zfs_pools: expected at most 1,000 characters",
    }
    [payload] = await database_sync_to_async(stored)()
    assert payload["errors"] == {"zfs_pools": "e" * 1000}


async def test_error_source_name_of_256_characters_is_nacked(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("slow", seq=1, errors={"s" * 256: "failed"})
    reply = await send(agent, frame)
    assert reply["error"] == "errors: a source name longer than 255 characters"


async def test_unknown_key_of_a_megabyte_is_cut_in_the_nack_path(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = frames.sample("fast", seq=1)
    frame["data"]["zfs_pools"]["raw"] = {"k" * 2**20: "OVERFLOW"}
    await agent.send_to(text_data=json.dumps(frame).replace('"OVERFLOW"', "1e400"))
    reply = await agent.receive_json_from()
    assert reply["error"] == f"data.zfs_pools.raw.{'k' * 255}...: expected a finite number"


# --- lists and the guest index --------------------------------------------------------------


@pytest.mark.parametrize("key", ["ips", "macs", "tags"])
async def test_guest_lists_of_1000_entries_are_acked_and_1001_nacked(make_host, connect_agent, key):
    host, token, agent = await joined_pair(make_host, connect_agent)
    fits = frames.sample("medium", seq=1)
    fits["data"]["guest_configs"][0][key] = [f"{key}{i}" for i in range(1000)]
    assert await send(agent, fits) == {"type": "ack", "seq": 1}
    too_many = frames.sample("medium", seq=2, collected_at="2026-04-21T12:05:00Z")
    too_many["data"]["guest_configs"][0][key] = ["x"] * 1001
    assert (await send(agent, too_many))["error"] == (
        f"data.guest_configs[0].{key}: expected at most 1,000 entries"
    )


@pytest.mark.parametrize("tier", ["fast", "medium"])
async def test_vmid_beyond_proxmox_range_is_nacked_not_a_storage_failure(
    make_host, connect_agent, tier
):
    host, token, agent = await joined_pair(make_host, connect_agent)
    source = "guests" if tier == "fast" else "guest_configs"
    fits = frames.sample(tier, seq=1)
    fits["data"][source][0]["vmid"] = 999_999_999
    assert await send(agent, fits) == {"type": "ack", "seq": 1}
    too_big = frames.sample(tier, seq=2, collected_at="2026-04-21T12:05:00Z")
    too_big["data"][source][0]["vmid"] = 2**31
    assert (await send(agent, too_big))["error"] == (
        f"data.{source}[0].vmid: expected an integer from 0 to 999,999,999"
    )


# --- numbers within ±(2^63 - 1) -------------------------------------------------------------


@pytest.mark.parametrize("value", [INT64_MAX, -INT64_MAX], ids=["2^63-1", "-(2^63-1)"])
async def test_number_at_the_edge_of_64_bits_is_acked(make_host, connect_agent, value):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = _set(frames.sample("fast", seq=1), ["data", "host", "load", 0], value)
    assert await send(agent, frame) == {"type": "ack", "seq": 1}
    [payload] = await database_sync_to_async(stored)()
    assert payload["data"]["host"]["load"][0] == value


@pytest.mark.parametrize("value", [2**63, -(2**63)], ids=["2^63", "-2^63"])
async def test_number_beyond_64_bits_is_nacked_out_of_range(make_host, connect_agent, value):
    host, token, agent = await joined_pair(make_host, connect_agent)
    frame = _set(frames.sample("fast", seq=1), ["data", "host", "load", 0], value)
    assert await send(agent, frame) == {
        "type": "nack",
        "seq": 1,
        "error": "data.host.load[0]: number out of range",
    }
    assert await database_sync_to_async(stored)() == []


# --- NUL in names: stored as sent, derived without it (PostgreSQL's text cannot hold NUL) ------


def test_a_nul_is_found_where_the_frame_has_it_behind_any_number_of_escapes():
    from metrics.scan import may_hold_nul

    for before in range(0, 40, 3):
        escapes = '"a\\nb\\"c",' * before  # \n and \" in JSON text
        for tail, holds in (('"x\\u0000y"', True), ('"x\\u0001y"', False), ('"xy"', False)):
            text = f'{{"e":[{escapes}{tail}]}}'.encode()
            assert (b"\\u0000" in text) is holds
            assert may_hold_nul(text) is holds, (before, tail)


async def test_names_with_nul_are_acked_and_indexed_without_it(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    fast = frames.sample("fast", seq=3, errors={"stor\u0000age": "pvesh\u0000 timed out"})
    fast["data"]["zfs_pools"]["pools"][0]["name"] = "rp\u0000ool"
    fast["data"]["guests"][0]["name"] = "we\u0000b"
    medium = frames.sample("medium", seq=4)
    medium["data"]["guest_configs"][0]["name"] = "we\u0000b"
    medium["data"]["datasets"]["datasets"][0]["name"] = "rpool/\u0000data"
    assert await send(agent, fast) == {"type": "ack", "seq": 3}
    assert await send(agent, medium) == {"type": "ack", "seq": 4}

    payloads = await database_sync_to_async(stored)()
    assert [p["data"] for p in payloads] == [fast["data"], medium["data"]]  # exactly as sent
    summary = await database_sync_to_async(facts)()
    assert summary["fast"]["pools"][0]["name"] == "rpool"
    assert summary["fast"]["errors"] == {"storage": "pvesh timed out"}
    assert summary["medium"]["datasets"][0]["name"] == "rpool/data"
    guest = await database_sync_to_async(Guest.objects.get)(host__name="pve1", vmid=100)
    assert guest.name == "web"
