"""The single-process channel layer: expiry still happens, but not on every call."""

from __future__ import annotations

import asyncio

from proxmon.layers import CLEAN_EVERY_S, InMemoryChannelLayer


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
