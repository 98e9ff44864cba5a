"""metrics.summary.compact: the compact facts of a tier's latest sample."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA, GUESTS, POOL, STORAGE, rfc3339

RECEIVED = BASE_TIME + timedelta(seconds=1)
SCRUBBED = POOL["last_scrub_end"]  # 2026-04-12T00:40:11Z
EARLIER = "2026-03-01T02:00:00Z"


def facts(tier: str, data: dict | None = None, errors=None, previous=None) -> dict:
    data = copy.deepcopy(DATA[tier]) if data is None else data
    return compact(tier, data, errors or {}, BASE_TIME, RECEIVED, previous)


def fast_with_pool(**changes) -> dict:
    data = copy.deepcopy(DATA["fast"])
    pool = data["zfs_pools"]["pools"][0]
    pool["scan"].update(changes.pop("scan", {}))
    pool.update(changes)
    return data


def test_fast_keeps_host_pools_storage_and_guest_counts():
    result = facts("fast")
    assert result["collected_at"] == "2026-04-21T12:00:00Z"
    assert result["received_at"] == "2026-04-21T12:00:01Z"
    assert result["errors"] == {}
    assert result["host"] == {
        "cpu_percent": 12.5,
        "load": [0.1, 0.07, 0.01],
        "mem": {"total": 67108864000, "used": 20000000000, "available": 47108864000},
        "uptime_s": 16072645.2,
        "rootfs": {"total": 100000000000, "used": 25000000000},
    }
    assert result["pools"] == [{**POOL, "last_scrub_known": True}]
    assert result["last_scrubs"] == {"rpool": SCRUBBED}
    assert result["storage"] == STORAGE
    assert result["guests"] == {"total": 2, "running": 1}
    assert "raw" not in json.dumps(result)


def test_medium_keeps_snapshot_facts_of_snapshotted_datasets_only():
    data = copy.deepcopy(DATA["medium"])
    bare = {**data["datasets"]["datasets"][0], "name": "rpool/ROOT", "snapshot_count": 0}
    data["datasets"]["datasets"].append(bare)
    result = facts("medium", data)
    assert result["datasets"] == [
        {
            "name": "rpool/data",
            "snapshot_count": 2,
            "oldest_snapshot": "2026-04-01T00:00:00Z",
            "newest_snapshot": "2026-04-21T00:00:00Z",
            "used": 1000,
            "usedbysnapshots": 0,
        }
    ]
    assert "guest_configs" not in result
    assert "raw" not in json.dumps(result)


def test_slow_keeps_the_system():
    assert facts("slow")["system"] == DATA["slow"]["system"]


def test_keys_an_agent_adds_later_are_not_copied():
    data = copy.deepcopy(DATA["fast"])
    data["host"]["pressure"] = {"cpu": 1.0}
    data["zfs_pools"]["pools"][0]["vdev_tree"] = ["big"] * 100
    data["storage"][0]["nodes"] = ["pve1"]
    data["sensors"] = {"cpu_temp": 50}
    result = facts("fast", data)
    assert "pressure" not in result["host"]
    assert "vdev_tree" not in result["pools"][0]
    assert "nodes" not in result["storage"][0]
    assert "sensors" not in result


@pytest.mark.parametrize(
    ("tier", "source", "key"),
    [
        ("fast", "host", "host"),
        ("fast", "zfs_pools", "pools"),
        ("fast", "storage", "storage"),
        ("fast", "guests", "guests"),
        ("medium", "datasets", "datasets"),
        ("slow", "system", "system"),
    ],
    ids=lambda value: str(value),
)
def test_a_failed_source_stays_absent_and_its_error_is_kept(tier, source, key):
    data = copy.deepcopy(DATA[tier])
    del data[source]
    result = facts(tier, data, errors={source: "timed out after 20 s"})
    assert key not in result
    assert result["errors"] == {source: "timed out after 20 s"}


def test_long_error_reasons_are_cut():
    result = facts("fast", errors={"guests": "x" * 5000})
    assert result["errors"] == {"guests": "x" * 200}


def test_times_keep_microseconds_when_there_are_any():
    result = compact(
        "slow", DATA["slow"], {}, BASE_TIME.replace(microsecond=123456), RECEIVED, None
    )
    assert result["collected_at"] == "2026-04-21T12:00:00.123456Z"


def test_unknown_tier_is_refused():
    with pytest.raises(ValueError, match="unknown tier"):
        compact("hourly", {}, {}, BASE_TIME, RECEIVED, None)


def test_no_guests_counts_zero():
    data = copy.deepcopy(DATA["fast"])
    data["guests"] = []
    assert facts("fast", data)["guests"] == {"total": 0, "running": 0}


NEVER = {"function": None, "state": None, "start_time": None, "end_time": None, "errors": None}
RESILVERED = {"function": "resilver", "state": "finished", "end_time": "2026-04-20T10:00:00Z"}
RESILVERING = {"function": "resilver", "state": "scanning", "end_time": None, "progress_pct": 40.0}
SCRUBBING = {"function": "scrub", "state": "scanning", "end_time": None, "progress_pct": 10.0}
CANCELED = {"function": "scrub", "state": "canceled", "end_time": "2026-04-20T10:00:00Z"}


def previous_scrubs(scrubs: dict) -> dict:
    return {"last_scrubs": scrubs}


@pytest.mark.parametrize(
    ("scan", "last_scrub_end", "previous", "expected"),
    [
        pytest.param({}, SCRUBBED, None, (SCRUBBED, True), id="finished-scrub"),
        pytest.param(
            {}, SCRUBBED, previous_scrubs({"rpool": EARLIER}), (SCRUBBED, True), id="newer-scrub"
        ),
        pytest.param(NEVER, None, None, (None, True), id="never-scanned-is-never-scrubbed"),
        pytest.param(
            RESILVERED,
            None,
            previous_scrubs({"rpool": EARLIER}),
            (EARLIER, True),
            id="resilver-after-known-scrub-keeps-it",
        ),
        pytest.param(
            RESILVERING,
            None,
            previous_scrubs({"rpool": EARLIER}),
            (EARLIER, True),
            id="resilvering-keeps-known-scrub",
        ),
        pytest.param(
            SCRUBBING,
            None,
            previous_scrubs({"rpool": EARLIER}),
            (EARLIER, True),
            id="scrubbing-keeps-known-scrub",
        ),
        pytest.param(
            CANCELED,
            None,
            previous_scrubs({"rpool": EARLIER}),
            (EARLIER, True),
            id="canceled-scrub-keeps-known-scrub",
        ),
        pytest.param(RESILVERED, None, None, (None, False), id="resilver-first-seen-is-unknown"),
        pytest.param(SCRUBBING, None, None, (None, False), id="scrubbing-first-seen-is-unknown"),
        pytest.param(
            RESILVERED,
            None,
            previous_scrubs({"tank": EARLIER}),
            (None, False),
            id="other-pools-memory-does-not-count",
        ),
        pytest.param(
            RESILVERED,
            None,
            previous_scrubs({"rpool": None}),
            (None, True),
            id="resilver-on-never-scrubbed-pool-stays-never",
        ),
        pytest.param(
            SCRUBBING,
            None,
            previous_scrubs({"rpool": None}),
            (None, True),
            id="first-scrub-running",
        ),
        pytest.param(RESILVERED, EARLIER, None, (EARLIER, True), id="draid-scrub-beside-resilver"),
    ],
)
def test_last_scrub_end(scan, last_scrub_end, previous, expected):
    data = fast_with_pool(scan=scan, last_scrub_end=last_scrub_end)
    pool = facts("fast", data, previous=previous)["pools"][0]
    assert (pool["last_scrub_end"], pool["last_scrub_known"]) == expected


def test_last_scrub_survives_a_failing_zpool_status_during_a_resilver():
    first = facts("fast")
    data = copy.deepcopy(DATA["fast"])
    del data["zfs_pools"]
    failed = facts("fast", data, errors={"zfs_pools": "zpool status: timed out"}, previous=first)
    assert "pools" not in failed
    assert failed["last_scrubs"] == {"rpool": SCRUBBED}
    resilvering = facts("fast", fast_with_pool(scan=RESILVERING, last_scrub_end=None), None, failed)
    assert resilvering["pools"][0]["last_scrub_end"] == SCRUBBED


def test_a_pool_that_is_gone_is_forgotten():
    previous = previous_scrubs({"rpool": SCRUBBED, "oldpool": EARLIER})
    assert facts("fast", previous=previous)["last_scrubs"] == {"rpool": SCRUBBED}


def test_facts_stay_small_for_a_big_host():
    """50 guests, 3 pools, 10 storages, 40 snapshotted datasets: small enough for 1,000 hosts.

    The guest list alone would be about 12 KB and the raw `zfs list` output far more.
    """
    fast = copy.deepcopy(DATA["fast"])
    fast["guests"] = [
        {**GUESTS[i % 2], "vmid": 100 + i, "name": f"guest-{i:02d}.example.com"} for i in range(50)
    ]
    fast["zfs_pools"]["pools"] = [
        {**copy.deepcopy(POOL), "name": name} for name in ("rpool", "tank", "backup")
    ]
    fast["zfs_pools"]["raw"] = {"pools": {name: {"vdevs": ["x" * 1000]} for name in "abc"}}
    fast["storage"] = [
        {**STORAGE[0], "storage": f"storage-{i}", "used": 10**12, "total": 4 * 10**12}
        for i in range(10)
    ]
    medium = copy.deepcopy(DATA["medium"])
    template = medium["datasets"]["datasets"][0]
    medium["datasets"]["datasets"] = [
        {
            **template,
            "name": f"tank/data/vm-{100 + i}-disk-0",
            "used": 34359738368,
            "usedbysnapshots": 1234567890,
            "snapshot_count": 24,
        }
        for i in range(40)
    ]
    medium["datasets"]["raw"] = {"datasets": {str(i): {"x": "y" * 500} for i in range(40)}}
    sizes = {
        "fast": len(json.dumps(facts("fast", fast))),
        "medium": len(json.dumps(facts("medium", medium))),
        "slow": len(json.dumps(facts("slow"))),
    }
    assert sizes["fast"] < 4_000, sizes
    assert sizes["medium"] < 40 * 220, sizes  # one short row per snapshotted dataset
    assert sizes["slow"] < 400, sizes
    assert sum(sizes.values()) < 13_000, sizes


def test_input_is_not_changed():
    data = copy.deepcopy(DATA["fast"])
    before = copy.deepcopy(data)
    facts("fast", data, previous={"last_scrubs": {"rpool": EARLIER}})
    assert data == before


def test_facts_are_json_round_trippable():
    for tier in ("fast", "medium", "slow"):
        result = facts(tier)
        assert json.loads(json.dumps(result)) == result
        assert result["collected_at"] == rfc3339(BASE_TIME)
