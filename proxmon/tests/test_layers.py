"""The channel layers: in memory, expiry still happens but not on every call; on Redis, a
cancelled receive ends, even where Python 3.11 loses the cancellation."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from proxmon.layers import CLEAN_EVERY_S, InMemoryChannelLayer, RedisChannelLayer


def redis_layer(address: str) -> RedisChannelLayer:
    # socket_timeout as in proxmon/settings.py: it is what sends commands through wait_for
    return RedisChannelLayer(
        hosts=[{"address": address, "socket_timeout": 30}], prefix=f"test-{uuid.uuid4().hex}"
    )


async def test_expired_messages_are_still_dropped_at_the_next_clean_up():
    layer = InMemoryChannelLayer(expiry=0.01)
    await layer.group_add("dashboard", "a.inmemory!x")
    await layer.send("a.inmemory!x", {"type": "nobody.reads.this"})
    await asyncio.sleep(CLEAN_EVERY_S + 0.1)
    await layer.group_send("dashboard", {"type": "host.changed"})  # cleans first
    # the expired message took the channel out of its group, as channels' own layer does
    assert "a.inmemory!x" not in layer.groups.get("dashboard", {})


async def test_the_clean_up_walk_runs_at_most_once_a_second():
    layer = InMemoryChannelLayer(expiry=0.01)
    await layer.group_send("dashboard", {"type": "host.changed"})  # the first walk
    await layer.group_add("dashboard", "a.inmemory!x")
    await layer.send("a.inmemory!x", {"type": "nobody.reads.this"})
    await asyncio.sleep(0.05)
    for _ in range(100):  # expired now, but within the second: no walk, nothing dropped
        await layer.group_send("dashboard", {"type": "host.changed"})
    assert "a.inmemory!x" in layer.groups["dashboard"]


async def test_a_cancelled_receive_on_redis_ends_even_when_the_cancellation_lands_in_a_send(
    redis_url,
):
    # An agent's consumer cancels its receive when the connection closes and waits for it.
    # Cancelled after 0..39 turns of the event loop, some cancellations land just as a command
    # has been written, where Python 3.11's wait_for (inside redis-py) swallows them; channels'
    # own layer then went on polling Redis for good (measured: 16 to 18 of 120 here, at 9 to 37
    # turns). Receives poll with 5 s BZPOPMIN, so ending within 2 s is the cancellation's doing.
    layer = redis_layer(redis_url)
    went_on = []
    for _ in range(3):
        for turns in range(40):
            receive = asyncio.ensure_future(layer.receive(await layer.new_channel()))
            for _ in range(turns):
                await asyncio.sleep(0)
            receive.cancel()
            done, _ = await asyncio.wait([receive], timeout=2)
            if not done:
                went_on.append(turns)
                receive.cancel()  # once more, so the test leaves nothing behind
                await asyncio.wait([receive], timeout=10)
    await layer.flush()
    assert went_on == []


async def test_the_redis_layer_still_delivers_to_channels_and_groups(redis_url):
    layer = redis_layer(redis_url)
    channel = await layer.new_channel()
    await layer.group_add("dashboard", channel)
    await layer.send(channel, {"type": "agent.replaced"})
    await layer.group_send("dashboard", {"type": "host.changed"})
    first = await asyncio.wait_for(layer.receive(channel), 5)
    second = await asyncio.wait_for(layer.receive(channel), 5)
    await layer.flush()
    assert [first["type"], second["type"]] == ["agent.replaced", "host.changed"]


def test_the_redis_layer_keeps_the_connection_class_the_address_asks_for():
    tls = redis_layer("rediss://redis.example:6380/0").create_pool(0)
    unix = redis_layer("unix:///run/redis/redis.sock").create_pool(0)
    assert issubclass(tls.connection_class, SSLConnection)
    assert issubclass(unix.connection_class, UnixDomainSocketConnection)
