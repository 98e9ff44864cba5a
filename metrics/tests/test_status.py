"""metrics.status.evaluate: the light of a host and its reasons, from summary.compact facts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta

import pytest

from metrics.status import Reason, Thresholds, Verdict, evaluate
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA, POOL, STORAGE, rfc3339

RECEIVED = BASE_TIME + timedelta(seconds=1)
NOW = BASE_TIME + timedelta(seconds=10)
DEFAULTS = Thresholds()


def ago(**delta) -> str:
    return rfc3339(NOW - timedelta(**delta))


def fraction_ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- changes to the fixture's sample data, applied before summary.compact ---------------------

Change = Callable[[dict], None]


def pool(**changes) -> Change:
    def change(data: dict) -> None:
        target = data["fast"]["zfs_pools"]["pools"][0]
        target["scan"].update(changes.get("scan", {}))
        target.update({key: value for key, value in changes.items() if key != "scan"})

    return change


def add_pool(**changes) -> Change:
    return lambda data: data["fast"]["zfs_pools"]["pools"].append(
        {**copy.deepcopy(POOL), **changes}
    )


def storage(**changes) -> Change:
    return lambda data: data["fast"]["storage"][0].update(changes)


def add_storage(**changes) -> Change:
    return lambda data: data["fast"]["storage"].append({**STORAGE[0], **changes})


def dataset(**changes) -> Change:
    return lambda data: data["medium"]["datasets"]["datasets"][0].update(changes)


def add_dataset(**changes) -> Change:
    def change(data: dict) -> None:
        datasets = data["medium"]["datasets"]["datasets"]
        datasets.append({**datasets[0], **changes})

    return change


def system(**changes) -> Change:
    return lambda data: data["slow"]["system"].update(changes)


def drop(tier: str, source: str) -> Change:
    return lambda data: data[tier].pop(source)


def host_facts(
    *changes: Change,
    errors: dict | None = None,
    received_at=RECEIVED,
    previous: dict | None = None,
) -> dict[str, dict]:
    """Facts of every tier of a healthy host (no pending updates), changed as asked."""
    data = copy.deepcopy(DATA)
    data["slow"]["system"]["pending_updates"] = 0
    for change in changes:
        change(data)
    errors = errors or {}
    return {
        tier: compact(
            tier,
            data[tier],
            errors.get(tier, {}),
            BASE_TIME,
            received_at,
            (previous or {}).get(tier),
        )
        for tier in ("fast", "medium", "slow")
    }


def verdict(facts: dict, status="online", last_seen_at=RECEIVED, skew=None, **thresholds):
    return evaluate(status, last_seen_at, skew, facts, NOW, Thresholds(**thresholds))


def texts(result: Verdict) -> list[str]:
    return [reason.text for reason in result.reasons]


# --- one rule at a time ------------------------------------------------------------------------

NEVER_SCANNED = {"function": None, "state": None, "start_time": None, "end_time": None}
SCRUBBING = {"function": "scrub", "state": "scanning", "end_time": None, "progress_pct": 12.0}
RESILVERING = {"function": "resilver", "state": "scanning", "end_time": None, "progress_pct": 40.0}
RESILVERED = {"function": "resilver", "state": "finished", "end_time": ago(days=1)}

CASES = [
    ("healthy host is green", [], "ok", []),
    ("pool degraded", [pool(health="DEGRADED", degraded_vdevs=1)], "critical", ["rpool DEGRADED"]),
    ("pool suspended", [pool(health="SUSPENDED")], "critical", ["rpool SUSPENDED"]),
    (
        "permanent data error in online pool",
        [pool(data_errors=1)],
        "critical",
        ["rpool: 1 permanent data error"],
    ),
    (
        "permanent data errors",
        [pool(data_errors=3)],
        "critical",
        ["rpool: 3 permanent data errors"],
    ),
    ("pool 92.7 % full", [pool(capacity_pct=92.7)], "critical", ["rpool 92 % full"]),
    ("pool exactly 90 % full", [pool(capacity_pct=90.0)], "critical", ["rpool 90 % full"]),
    ("pool 89.99 % full", [pool(capacity_pct=89.99)], "warning", ["rpool 89 % full"]),
    ("pool exactly 80 % full", [pool(capacity_pct=80.0)], "warning", ["rpool 80 % full"]),
    ("pool 79.9 % full", [pool(capacity_pct=79.9)], "ok", []),
    (
        "capacity from allocated over size",
        [pool(capacity_pct=None, size=1000, allocated=850)],
        "warning",
        ["rpool 85 % full"],
    ),
    ("capacity unknown", [pool(capacity_pct=None, size=None, allocated=None)], "ok", []),
    (
        "checksum errors",
        [pool(errors={"read": 0, "write": 0, "checksum": 6})],
        "warning",
        ["rpool: 6 checksum errors"],
    ),
    (
        "one read error",
        [pool(errors={"read": 1, "write": 0, "checksum": 0})],
        "warning",
        ["rpool: 1 read error"],
    ),
    (
        "read and checksum errors",
        [pool(errors={"read": 2, "write": 0, "checksum": 6})],
        "warning",
        ["rpool: 2 read, 6 checksum errors"],
    ),
    (
        "degraded device in online pool",
        [pool(degraded_vdevs=1)],
        "warning",
        ["rpool: 1 degraded device"],
    ),
    (
        "in-use spare in degraded pool says only degraded",
        [pool(health="DEGRADED", vdevs=2, degraded_vdevs=1)],
        "critical",
        ["rpool DEGRADED"],
    ),
    ("healthy pool with available spare", [pool(vdevs=2, degraded_vdevs=0)], "ok", []),
    (
        "scrub 40 days ago",
        [pool(last_scrub_end=ago(days=40), scan={"end_time": ago(days=40)})],
        "warning",
        ["rpool last scrubbed 40 days ago"],
    ),
    (
        "scrub exactly 35 days ago",
        [pool(last_scrub_end=ago(days=35), scan={"end_time": ago(days=35)})],
        "ok",
        [],
    ),
    (
        "never scrubbed",
        [pool(last_scrub_end=None, scan=NEVER_SCANNED)],
        "warning",
        ["rpool never scrubbed"],
    ),
    ("first scrub running", [pool(last_scrub_end=None, scan=SCRUBBING)], "ok", []),
    ("scrub running is no reason", [pool(scan=SCRUBBING)], "ok", []),
    ("last scan a resilver, scrub unknown", [pool(last_scrub_end=None, scan=RESILVERED)], "ok", []),
    (
        "resilver running in degraded pool",
        [pool(health="DEGRADED", degraded_vdevs=1, last_scrub_end=None, scan=RESILVERING)],
        "critical",
        ["rpool DEGRADED"],
    ),
    (
        "newest snapshot 8 days old",
        [dataset(newest_snapshot=ago(days=8))],
        "warning",
        ["rpool/data: newest snapshot 8 days old"],
    ),
    ("newest snapshot exactly 7 days old", [dataset(newest_snapshot=ago(days=7))], "ok", []),
    # the cut-off to the second is compared as text; within its second the time is parsed
    (
        "newest snapshot 7 days and half a second old",
        [dataset(newest_snapshot=fraction_ago(days=7, milliseconds=500))],
        "warning",
        ["rpool/data: newest snapshot 7 days old"],
    ),
    (
        "newest snapshot half a second short of 7 days old",
        [dataset(newest_snapshot=fraction_ago(days=7, milliseconds=-500))],
        "ok",
        [],
    ),
    (
        "newest snapshot a second short of 7 days old",
        [dataset(newest_snapshot=ago(days=7, seconds=-1))],
        "ok",
        [],
    ),
    (
        "oldest snapshot 91 days old",
        [dataset(oldest_snapshot=ago(days=91))],
        "warning",
        ["rpool/data: oldest snapshot 91 days old"],
    ),
    (
        "unsnapshotted dataset has no rule",
        [dataset(snapshot_count=0, oldest_snapshot=None, newest_snapshot=None)],
        "ok",
        [],
    ),
    (
        "several stale datasets make one reason naming the worst",
        [
            dataset(newest_snapshot=ago(days=10)),
            add_dataset(name="tank/a", newest_snapshot=ago(days=30)),
            add_dataset(name="tank/b", newest_snapshot=ago(days=1)),
            add_dataset(name="tank/c", newest_snapshot=ago(days=9)),
        ],
        "warning",
        ["3 datasets: newest snapshot over 7 days old (tank/a: 30 days)"],
    ),
    ("12 updates pending", [system(pending_updates=12)], "warning", ["12 updates pending"]),
    ("1 update pending", [system(pending_updates=1)], "warning", ["1 update pending"]),
    ("updates unknown", [system(pending_updates=None)], "ok", []),
    (
        "storage 95 % full",
        [storage(used=9500, total=10000)],
        "warning",
        ["storage local-zfs 95 % full"],
    ),
    (
        "storage exactly 90 % full",
        [storage(used=9000, total=10000)],
        "warning",
        ["storage local-zfs 90 % full"],
    ),
    ("storage 89.9 % full", [storage(used=8990, total=10000)], "ok", []),
    ("storage without total", [storage(used=0, total=0)], "ok", []),
    ("storage size unknown", [storage(used=None, total=None)], "ok", []),
    (
        "enabled storage inactive",
        [add_storage(storage="nfs-backup", type="nfs", active=False, used=0, total=0)],
        "warning",
        ["storage nfs-backup inactive"],
    ),
    (
        "disabled storage ignored even inactive and full",
        [add_storage(storage="old-nfs", enabled=False, active=False, used=100, total=100)],
        "ok",
        [],
    ),
]


@pytest.mark.parametrize(
    ("changes", "level", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(changes, level, reasons):
    result = verdict(host_facts(*changes))
    assert (result.level, texts(result)) == (level, reasons)
    assert all(reason.level == level for reason in result.reasons)


@pytest.mark.parametrize(
    ("skew", "reasons"),
    [
        pytest.param(75.4, ["clock 75 s behind"], id="behind"),
        pytest.param(-75.0, ["clock 75 s ahead"], id="ahead"),
        pytest.param(3 * 3600.0, ["clock 3 h behind"], id="hours-behind"),
        pytest.param(60.0, [], id="exactly-60-s-behind"),
        pytest.param(-60.0, [], id="exactly-60-s-ahead"),
        pytest.param(None, [], id="not-measured"),
    ],
)
def test_clock_skew(skew, reasons):
    result = verdict(host_facts(), skew=skew)
    assert texts(result) == reasons
    assert result.level == ("warning" if reasons else "ok")


@pytest.mark.parametrize(
    ("tier", "source", "reason", "expected"),
    [
        pytest.param(
            "fast",
            "zfs_pools",
            "zpool status: timed out after 20 s",
            "zfs_pools failing: zpool status: timed out after 20 s",
            id="fast-source",
        ),
        pytest.param(
            "medium",
            "datasets",
            "zfs list: exit 1:\n  cannot open 'x'",
            "datasets failing: zfs list: exit 1: cannot open 'x'",
            id="multi-line-reason-on-one-line",
        ),
        pytest.param(
            "fast",
            "storage",
            "x" * 200,
            "storage failing: " + "x" * 79 + "…",
            id="long-word-cut-hard",
        ),
        pytest.param(
            "slow",
            "system",
            "apt " + "very long output " * 20,
            "system failing: apt " + ("very long output " * 4) + "very…",
            id="long-reason-cut-at-a-word",
        ),
    ],
)
def test_failing_source(tier, source, reason, expected):
    facts = host_facts(drop(tier, source), errors={tier: {source: reason}})
    result = verdict(facts)
    assert (result.level, texts(result)) == ("warning", [expected])


def test_failing_pool_source_hides_nothing_else_but_its_pools():
    facts = host_facts(
        drop("fast", "zfs_pools"),
        system(pending_updates=2),
        errors={"fast": {"zfs_pools": "zpool status: timed out"}},
    )
    assert texts(verdict(facts)) == [
        "zfs_pools failing: zpool status: timed out",
        "2 updates pending",
    ]


@pytest.mark.parametrize(
    ("received_before_now", "reasons"),
    [
        pytest.param(timedelta(minutes=5), ["no data for 5 min"], id="stale-5-min"),
        pytest.param(timedelta(seconds=121), ["no data for 2 min"], id="just-over-120-s"),
        pytest.param(timedelta(seconds=120), [], id="exactly-120-s"),
        pytest.param(timedelta(hours=3), ["no data for 3 h"], id="stale-hours"),
    ],
)
def test_online_host_with_stale_fast_sample(received_before_now, reasons):
    facts = host_facts(received_at=NOW - received_before_now)
    assert texts(verdict(facts)) == reasons


def test_online_host_without_fast_sample_yet():
    facts = {"slow": host_facts()["slow"]}
    assert texts(verdict(facts, last_seen_at=NOW - timedelta(seconds=5))) == []
    assert texts(verdict(facts, last_seen_at=NOW - timedelta(minutes=10))) == ["no data yet"]
    assert verdict({}, last_seen_at=None).level == "warning"


def test_last_scrub_known_before_a_resilver_still_counts():
    """The scrub end known from the previous sample outlives the resilver that hid it."""
    scrubbed = host_facts(pool(last_scrub_end=ago(days=40), scan={"end_time": ago(days=40)}))
    resilvered = host_facts(pool(last_scrub_end=None, scan=RESILVERED), previous=scrubbed)
    assert texts(verdict(resilvered)) == ["rpool last scrubbed 40 days ago"]


def test_never_scrubbed_pool_stays_never_scrubbed_after_a_resilver():
    never = host_facts(pool(last_scrub_end=None, scan=NEVER_SCANNED))
    resilvered = host_facts(pool(last_scrub_end=None, scan=RESILVERED), previous=never)
    assert texts(verdict(resilvered)) == ["rpool never scrubbed"]


def test_overdue_scrub_still_warns_while_the_next_scrub_runs():
    scrubbed = host_facts(pool(last_scrub_end=ago(days=40), scan={"end_time": ago(days=40)}))
    running = host_facts(pool(last_scrub_end=None, scan=SCRUBBING), previous=scrubbed)
    assert texts(verdict(running)) == ["rpool last scrubbed 40 days ago"]


# --- grey ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "last_seen_at", "reasons"),
    [
        pytest.param("offline", NOW - timedelta(hours=3), ["offline for 3 h"], id="offline"),
        pytest.param("offline", NOW - timedelta(days=3), ["offline for 3 days"], id="offline-days"),
        pytest.param("offline", None, ["offline"], id="offline-never-seen"),
        pytest.param("never_connected", None, ["never connected"], id="never-connected"),
    ],
)
def test_grey_host_has_one_reason_and_no_other_rule(status, last_seen_at, reasons):
    broken = host_facts(pool(health="FAULTED", capacity_pct=99.0), system(pending_updates=5))
    result = evaluate(status, last_seen_at, 300.0, broken, NOW, DEFAULTS)
    assert result.level == "offline"
    assert result.reasons == [Reason("offline", text) for text in reasons]


# --- several at once, order, sorting -----------------------------------------------------------


def test_several_reasons_worst_first():
    facts = host_facts(
        system(pending_updates=12),
        storage(used=9500, total=10000),
        pool(errors={"read": 0, "write": 0, "checksum": 6}, capacity_pct=85.0),
        add_pool(name="tank", health="DEGRADED", degraded_vdevs=1, capacity_pct=91.0),
        add_pool(name="backup", data_errors=1),
        dataset(newest_snapshot=ago(days=8)),
        drop("medium", "guest_configs"),
        errors={"medium": {"guest_configs": "qm config: timed out"}},
        received_at=NOW - timedelta(minutes=5),
    )
    result = verdict(facts, skew=-75.0)
    assert result.level == "critical"
    assert result.reasons == [
        Reason("critical", "tank DEGRADED"),
        Reason("critical", "tank 91 % full"),
        Reason("critical", "backup: 1 permanent data error"),
        Reason("warning", "no data for 5 min"),
        Reason("warning", "guest_configs failing: qm config: timed out"),
        Reason("warning", "rpool 85 % full"),
        Reason("warning", "rpool: 6 checksum errors"),
        Reason("warning", "storage local-zfs 95 % full"),
        Reason("warning", "rpool/data: newest snapshot 8 days old"),
        Reason("warning", "12 updates pending"),
        Reason("warning", "clock 75 s ahead"),
    ]


def test_hosts_sort_critical_warning_offline_ok():
    verdicts = {
        "green": verdict(host_facts()),
        "grey": verdict(host_facts(), status="offline"),
        "yellow": verdict(host_facts(system(pending_updates=1))),
        "red": verdict(host_facts(pool(health="FAULTED"))),
    }
    ordered = sorted(verdicts, key=lambda name: verdicts[name].sort_key)
    assert ordered == ["red", "yellow", "grey", "green"]


def test_missing_tiers_are_no_reason():
    facts = host_facts()
    del facts["medium"], facts["slow"]
    assert verdict(facts).level == "ok"


def test_hand_built_facts_without_the_known_flag():
    facts = {
        "fast": {
            "received_at": rfc3339(RECEIVED),
            "errors": {},
            "pools": [{**POOL, "last_scrub_end": None, "scan": NEVER_SCANNED}],
        }
    }
    assert texts(verdict(facts)) == ["rpool never scrubbed"]


# --- thresholds ---------------------------------------------------------------------------------


def test_thresholds_defaults_are_the_designs():
    assert Thresholds() == Thresholds(
        pool_critical_pct=90,
        pool_warning_pct=80,
        scrub_max_age_days=35,
        snapshot_newest_max_age_days=7,
        snapshot_oldest_max_age_days=90,
        storage_full_pct=90,
        clock_skew_s=60,
        stale_after_s=120,
    )


def test_thresholds_from_settings(settings):
    assert Thresholds.from_settings() == Thresholds()
    settings.PROXMON_STATUS_POOL_WARNING_PCT = 70
    settings.PROXMON_STATUS_STALE_AFTER_S = 600
    assert Thresholds.from_settings() == Thresholds(pool_warning_pct=70, stale_after_s=600)


def test_custom_thresholds_apply():
    facts = host_facts(pool(capacity_pct=75.0), received_at=NOW - timedelta(minutes=5))
    assert texts(verdict(facts)) == ["no data for 5 min"]
    result = verdict(facts, pool_warning_pct=70, stale_after_s=600)
    assert texts(result) == ["rpool 75 % full"]
