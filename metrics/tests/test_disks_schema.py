"""The slow tier's optional `disks` source in the server's validator (docs/protocol.md): the
fake host's real samples pass, each bad value is nacked with its path."""

from __future__ import annotations

import copy

import pytest

from agent import collect
from agent.collect import collect_tier
from agent.tests import fakehost
from metrics.decode import validate_sample
from metrics.tests import frames


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> dict:
    collect._not_applicable.clear()
    fake = fakehost.build(tmp_path_factory.mktemp("fake"), "degraded", 0)
    data, errors = collect_tier(fake.machine(), "slow")
    assert errors == {} and len(data["disks"]) == 6
    return data


def check(data: dict) -> str | None:
    return validate_sample(frames.sample("slow", 1, data=data))


def test_real_disks_with_standby_failures_and_an_unreadable_disk_pass(slow):
    assert check(slow) is None


def test_a_slow_sample_without_disks_passes(slow):
    assert check({k: v for k, v in slow.items() if k != "disks"}) is None
    assert check(dict(slow, disks=[])) is None


@pytest.mark.parametrize(
    ("key", "value", "nack"),
    [
        ("device", None, "data.disks[0].device: expected a string"),
        ("device", "s" * 256, "data.disks[0].device: expected at most 255 characters"),
        ("standby", None, "data.disks[0].standby: expected true or false"),
        ("passed", "yes", "data.disks[0].passed: expected true or false"),
        ("reallocated_sectors", -1, "data.disks[0].reallocated_sectors"),
        ("reallocated_sectors", 1.5, "data.disks[0].reallocated_sectors: expected an integer"),
        ("critical_warning", 2**63, "data.disks[0].critical_warning"),
        ("by_id", "ata-X", "data.disks[0].by_id: expected a list"),
        ("error", "e" * 1001, "data.disks[0].error: expected at most 1,000 characters"),
    ],
)
def test_bad_values_are_nacked_with_their_path(slow, key, value, nack):
    data = copy.deepcopy(slow)
    data["disks"][0][key] = value
    assert check(data).startswith(nack)


def test_a_missing_key_is_nacked_and_an_unknown_one_accepted(slow):
    data = copy.deepcopy(slow)
    del data["disks"][0]["power_on_hours"]
    assert check(data) == "data.disks[0].power_on_hours: missing"
    data = copy.deepcopy(slow)
    data["disks"][0]["rotation_rate"] = 7200
    assert check(data) is None
