"""Fixtures of the alert tests: hosts with real facts, channels on a real HTTP receiver."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerts.models import Channel
from alerts.tests.receiver import Receiver
from hosts.models import Host
from metrics.models import HostSummary
from metrics.summary import compact
from metrics.tests.frames import DATA


def facts(health: str = "ONLINE", pool: str = "tank", capacity_pct: float = 40.0, now=None):
    """Compact facts of all three tiers, one pool, everything fine unless told."""
    now = now or timezone.now()
    fast = copy.deepcopy(DATA["fast"])
    target = fast["zfs_pools"]["pools"][0]
    target.update(name=pool, health=health, capacity_pct=capacity_pct)
    target["last_scrub_end"] = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if health != "ONLINE":
        target["degraded_vdevs"] = 1
    medium = copy.deepcopy(DATA["medium"])
    for dataset in medium["datasets"]["datasets"]:
        dataset["newest_snapshot"] = dataset["oldest_snapshot"] = fast["zfs_pools"]["pools"][0][
            "last_scrub_end"
        ]
    slow = copy.deepcopy(DATA["slow"])
    slow["system"]["pending_updates"] = 0
    return {
        "fast": compact("fast", fast, {}, now, now, None),
        "medium": compact("medium", medium, {}, now, now, None),
        "slow": compact("slow", slow, {}, now, now, None),
    }


@pytest.fixture
def host(db):
    def make(name: str = "pve7", health: str = "ONLINE", tags: str = "", **kwargs) -> Host:
        now = timezone.now()
        host = Host.objects.create(
            name=name, status=Host.Status.ONLINE, last_seen_at=now, clock_skew_s=0.0, tags=tags
        )
        HostSummary.objects.create(host=host, facts=facts(health, now=now, **kwargs))
        return host

    return make


def set_facts(host: Host, **kwargs) -> None:
    now = timezone.now()
    Host.objects.filter(pk=host.pk).update(last_seen_at=now)
    HostSummary.objects.filter(host=host).update(facts=facts(now=now, **kwargs))


def evaluate(host: Host, now=None):
    from alerts import engine

    with transaction.atomic():
        return engine.evaluate_host(host.pk, now)


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(*args, **kwargs) -> Receiver:
        receiver = Receiver(*args, **kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def channel(db, receivers):
    def make(name: str = "ops", receiver: Receiver | None = None, **kwargs) -> Channel:
        receiver = receiver or receivers()
        channel = Channel(name=name, url=kwargs.pop("url", receiver.url()), **kwargs)
        channel.full_clean()
        channel.save()
        channel.receiver = receiver  # type: ignore[attr-defined]
        return channel

    return make
