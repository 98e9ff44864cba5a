"""The medium tier's backups and replication keys in the server's validator (docs/protocol.md):
the fake host's real sample passes, each bad value is nacked with its path, both are optional."""

from __future__ import annotations

import copy

import pytest

from agent.collect import collect_tier
from agent.tests import fakehost
from metrics.decode import validate_sample
from metrics.tests import frames

RFC3339 = "expected an RFC 3339 UTC time like 2026-04-21T12:34:56Z"


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> dict:
    fake = fakehost.build(tmp_path_factory.mktemp("fake"), "healthy", 3)
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors == {}
    return data


def check(data: dict) -> str | None:
    return validate_sample(frames.sample("medium", 1, data=data))


def test_fake_host_sample_is_valid_and_both_keys_are_optional(medium):
    assert check(medium) is None
    without = {k: v for k, v in medium.items() if k not in ("backups", "replication")}
    assert check(without) is None
    empty = dict(medium, backups={"jobs": [], "guests": []}, replication=[])
    assert check(empty) is None


def change(medium: dict, path: tuple, value) -> dict:
    data = copy.deepcopy(medium)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("backups", "jobs"), KeyError, "data.backups.jobs: missing"),
        (
            ("backups", "jobs", 0, "vmids"),
            [100, "101"],
            "data.backups.jobs[0].vmids[1]: expected an integer",
        ),
        (("backups", "jobs", 0, "all"), 1, "data.backups.jobs[0].all: expected true or false"),
        (
            ("backups", "guests", 0, "vmid"),
            1_000_000_000,
            "data.backups.guests[0].vmid: expected an integer from 0 to 999,999,999",
        ),
        (
            ("backups", "guests", 0, "newest"),
            "yesterday",
            "data.backups.guests[0].newest: " + RFC3339,
        ),
        (
            ("backups", "guests", 0, "verified"),
            "maybe",
            "data.backups.guests[0].verified: expected one of 'ok', 'failed', null",
        ),
        (
            ("backups", "guests", 0, "count"),
            -1,
            "data.backups.guests[0].count: expected an integer from 0 to 2^63-1",
        ),
        (
            ("backups", "guests", 1, "last_task", "error"),
            "x" * 1001,
            "data.backups.guests[1].last_task.error: expected at most 1,000 characters",
        ),
        (
            ("backups", "guests", 1, "last_task", "ok"),
            KeyError,
            "data.backups.guests[1].last_task.ok: missing",
        ),
        (
            ("backups", "guests", 0, "newest_storage"),
            "s" * 256,
            "data.backups.guests[0].newest_storage: expected at most 255 characters",
        ),
        (("replication",), {"id": "100-0"}, "data.replication: expected a list"),
        (
            ("replication", 0, "fail_count"),
            None,
            "data.replication[0].fail_count: expected an integer",
        ),
        (
            ("replication", 0, "last_sync"),
            1789000000,
            "data.replication[0].last_sync: " + RFC3339,
        ),
        (
            ("replication", 0, "duration_s"),
            "1.2",
            "data.replication[0].duration_s: expected a number",
        ),
    ],
)
def test_bad_values_are_nacked_with_their_path(medium, path, value, error):
    assert check(change(medium, path, value)) == error


def test_boundaries_that_pass(medium):
    assert check(change(medium, ("backups", "guests", 0, "vmid"), 999_999_999)) is None
    assert check(change(medium, ("backups", "guests", 1, "last_task", "error"), "x" * 1000)) is None
    assert check(change(medium, ("backups", "guests", 0, "last_task"), None)) is None
    assert check(change(medium, ("replication", 0, "error"), None)) is None
    # keys the protocol does not name (this agent's additive ones) are accepted
    assert check(change(medium, ("backups", "storage_errors"), {"pbs": "timed out"})) is None
