"""`raw_same` on the agent socket, in-process (docs/protocol.md, "Raw output may be left out"):
resolved against the raw of the connection's last acked sample of the tier, nacked when there
is none (first sample, after a reconnect, after a sample without raw). The real agent against
a real server: agent/tests/test_raw_same_e2e.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from metrics.models import LatestSample, Sample
from metrics.tests import frames
from metrics.tests.agents import joined_pair

pytestmark = pytest.mark.django_db(transaction=True)

RAW = {"status": {"pools": {"tank": {"guid": 2**64 - 1, "vdevs": [{"name": "sda"}]}}}}
NOT_RESOLVED = "no sample of this tier with raw output was acked on this connection"


def sample(tier: str, seq: int, raw=RAW, same: bool = False) -> dict:
    frame = frames.sample(tier, seq, frames.BASE_TIME + timedelta(seconds=30 * seq))
    source = "zfs_pools" if tier == "fast" else "datasets"
    if same:
        del frame["data"][source]["raw"]
        frame["data"][source]["raw_same"] = True
    else:
        frame["data"][source]["raw"] = raw
    return frame


async def send(agent, frame: dict) -> dict:
    await agent.send_to(text_data=json.dumps(frame))
    return await agent.receive_json_from()


def payloads(tier: str) -> list[dict]:
    rows = Sample.objects.filter(host__name="pve1", tier=tier).select_related("keyframe")
    return [row.payload for row in rows.order_by("collected_at")]


def meant(frame: dict, raw) -> dict:
    """What an agent means by `frame` when the server's previous raw is `raw`."""
    data = json.loads(json.dumps(frame["data"]))
    for part in data.values():
        if isinstance(part, dict) and part.pop("raw_same", False):
            part["raw"] = raw
    return {"data": data, "errors": frame["errors"]}


@pytest.mark.parametrize("tier", ["fast", "medium"])
async def test_raw_same_is_stored_as_the_previous_acked_raw(make_host, connect_agent, tier):
    host, token, agent = await joined_pair(make_host, connect_agent)
    first, second = sample(tier, 1), sample(tier, 2, same=True)
    assert await send(agent, first) == {"type": "ack", "seq": 1}
    assert await send(agent, second) == {"type": "ack", "seq": 2}
    stored = await database_sync_to_async(payloads)(tier)
    assert stored == [meant(first, RAW), meant(second, RAW)]
    latest = await database_sync_to_async(
        lambda: LatestSample.objects.get(host__name="pve1", tier=tier).data
    )()
    assert latest == meant(second, RAW)["data"]
    # and again: a resolved raw_same is itself the last acked raw
    assert await send(agent, sample(tier, 3, same=True)) == {"type": "ack", "seq": 3}
    assert len(await database_sync_to_async(payloads)(tier)) == 3


@pytest.mark.parametrize(("tier", "source"), [("fast", "zfs_pools"), ("medium", "datasets")])
async def test_raw_same_without_an_acked_raw_is_nacked_and_not_stored(
    make_host, connect_agent, tier, source
):
    host, token, agent = await joined_pair(make_host, connect_agent)
    reply = await send(agent, sample(tier, 1, same=True))
    assert reply == {"type": "nack", "seq": 1, "error": f"data.{source}.raw_same: {NOT_RESOLVED}"}
    assert await database_sync_to_async(payloads)(tier) == []


async def test_raw_same_is_not_resolved_across_a_reconnect(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    assert await send(agent, sample("fast", 1)) == {"type": "ack", "seq": 1}
    await agent.disconnect()
    again = await connect_agent("pve1", token)
    reply = await send(again, sample("fast", 2, same=True))
    assert reply["type"] == "nack"
    assert reply["error"] == f"data.zfs_pools.raw_same: {NOT_RESOLVED}"
    # the first sample of the new connection carries raw; then raw_same resolves against it
    other = {"status": {"pools": {}}}
    assert await send(again, sample("fast", 3, raw=other)) == {"type": "ack", "seq": 3}
    assert await send(again, sample("fast", 4, same=True)) == {"type": "ack", "seq": 4}
    stored = await database_sync_to_async(payloads)("fast")
    assert [p["data"]["zfs_pools"]["raw"] for p in stored] == [RAW, other, other]


async def test_raw_same_after_a_sample_without_raw_is_nacked(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    assert await send(agent, sample("fast", 1)) == {"type": "ack", "seq": 1}
    assert await send(agent, sample("fast", 2, raw=None)) == {"type": "ack", "seq": 2}
    assert (await send(agent, sample("fast", 3, same=True)))["type"] == "nack"


async def test_raw_same_after_a_nack_means_the_last_acked_raw(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    assert await send(agent, sample("fast", 1)) == {"type": "ack", "seq": 1}
    invalid = sample("fast", 2, raw={"changed": True})
    invalid["data"]["host"]["mem"]["total"] = "64G"
    assert (await send(agent, invalid))["type"] == "nack"
    assert await send(agent, sample("fast", 3, same=True)) == {"type": "ack", "seq": 3}
    # other tiers keep their own: a medium sample acked in between changes nothing
    stored = await database_sync_to_async(payloads)("fast")
    assert [p["data"]["zfs_pools"]["raw"] for p in stored] == [RAW, RAW]


async def test_tiers_remember_their_own_raw(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    assert await send(agent, sample("medium", 1)) == {"type": "ack", "seq": 1}
    assert (await send(agent, sample("fast", 2, same=True)))["type"] == "nack"
    assert await send(agent, sample("medium", 3, same=True)) == {"type": "ack", "seq": 3}


async def test_a_raw_sent_again_unchanged_or_changed_is_what_raw_same_then_means(
    make_host, connect_agent
):
    """The consumer keeps an unchanged raw's compressed copy (not made again) and a changed
    raw's new one: raw_same always means the last acked raw."""
    host, token, agent = await joined_pair(make_host, connect_agent)
    other = {"status": {"pools": {"tank": {"guid": 2**64 - 2, "vdevs": [{"name": "sdb"}]}}}}
    sent = [sample("fast", 1), sample("fast", 2), sample("fast", 3, same=True)]
    sent += [sample("fast", 4, raw=other), sample("fast", 5, same=True)]
    for frame in sent:
        assert await send(agent, frame) == {"type": "ack", "seq": frame["seq"]}
    stored = await database_sync_to_async(payloads)("fast")
    assert [p["data"]["zfs_pools"]["raw"] for p in stored] == [RAW, RAW, RAW, other, other]
