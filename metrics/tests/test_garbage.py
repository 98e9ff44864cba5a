"""Young collections on a timer while agents join in numbers (metrics/garbage.py), with the
real collector: a tick that collects shows as one more generation-0 collection."""

from __future__ import annotations

import gc

import pytest
from channels.db import database_sync_to_async

from metrics import garbage
from metrics.garbage import AFTER_STORM_S, STORM_JOINS, STORM_WINDOW_S, YoungCollections


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def young_collections() -> int:
    return gc.get_stats()[0]["collections"]


def test_a_storm_of_joins_collects_the_young_generation_on_every_tick_until_after_it():
    clock = Clock()
    policy = YoungCollections(clock)
    for _ in range(STORM_JOINS - 1):
        policy.joined()
    before = young_collections()
    assert not policy.tick()
    assert young_collections() == before
    policy.joined()  # the storm's last join: STORM_JOINS within the window
    assert policy.tick()
    assert young_collections() == before + 1
    clock.now += AFTER_STORM_S - 1
    assert policy.tick()
    clock.now += 1
    assert not policy.tick()  # the storm is over: back to CPython's own thresholds
    assert young_collections() == before + 2


def test_joins_spread_out_are_no_storm():
    clock = Clock()
    policy = YoungCollections(clock)
    for _ in range(STORM_JOINS * 3):
        policy.joined()
        clock.now += STORM_WINDOW_S / (STORM_JOINS - 1) + 0.01  # a reconnect now and then
    assert not policy.tick()


@pytest.mark.django_db(transaction=True)
async def test_a_join_through_the_socket_is_counted(monkeypatch, make_host, connect_agent):
    policy = YoungCollections()
    monkeypatch.setattr(garbage, "young", policy)
    _, token = await database_sync_to_async(make_host)("pve1")
    await connect_agent("pve1", token)
    assert len(policy.joins) == 1
