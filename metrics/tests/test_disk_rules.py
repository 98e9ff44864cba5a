"""Disks: the slow tier's facts (standby keeps the last known values) and the status rules at
every boundary, through summary.compact and status.evaluate like every other rule."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from agent.collectors import disks as agent_disks
from alerts.rules import RULES, SOURCES
from metrics.status import Thresholds, evaluate
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, rfc3339

NOW = BASE_TIME + timedelta(seconds=10)
SMARTCTL = Path(__file__).resolve().parents[2] / "agent/tests/fixtures/smartctl"


def entry(device="sdb", **values):
    disk = {"device": device, "standby": False, "by_id": [f"ata-DISK_{device}"]}
    disk.update(dict.fromkeys(agent_disks.VALUE_KEYS))
    disk.update(passed=True, protocol="ATA", model="DISK", reallocated_sectors=0)
    disk.update(values)
    return disk


def slow_facts(entries, previous=None, at=BASE_TIME):
    return compact("slow", {"disks": entries}, {}, at, at, previous)


def reasons(entries):
    facts = {"slow": slow_facts(entries)}
    verdict = evaluate("online", NOW, 0.0, facts, NOW, Thresholds())
    return [(r.level, r.rule, r.subject, r.text) for r in verdict.reasons if r.rule != "stale"]


def test_healthy_disk_gives_no_reason():
    assert reasons([entry(pending_sectors=0, uncorrectable_sectors=0)]) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"reallocated_sectors": 0}, []),
        (
            {"reallocated_sectors": 1},
            [("warning", "disk_sectors", "sdb", "sdb: 1 reallocated sector")],
        ),
        (
            {"reallocated_sectors": 8},
            [("warning", "disk_sectors", "sdb", "sdb: 8 reallocated sectors")],
        ),
        ({"pending_sectors": 1}, [("warning", "disk_sectors", "sdb", "sdb: 1 pending sector")]),
        (
            {"uncorrectable_sectors": 1},
            [("warning", "disk_sectors", "sdb", "sdb: 1 uncorrectable sector")],
        ),
        (
            {"reallocated_sectors": 1975, "pending_sectors": 8},
            [("warning", "disk_sectors", "sdb", "sdb: 1975 reallocated, 8 pending sectors")],
        ),
        ({"percentage_used": 89}, []),
        ({"percentage_used": 89.9}, []),
        ({"percentage_used": 90}, [("warning", "disk_wear", "sdb", "sdb: 90 % used")]),
        ({"percentage_used": 104}, [("warning", "disk_wear", "sdb", "sdb: 104 % used")]),
        ({"critical_warning": 0}, []),
        (
            {"critical_warning": 16},
            [("warning", "disk_warning", "sdb", "sdb: critical warning 0x10")],
        ),
        ({"passed": None}, []),
        ({"passed": False}, [("critical", "disk_failed", "sdb", "sdb: SMART health FAILED")]),
    ],
)
def test_rule_boundaries(values, expected):
    assert reasons([entry(**values)]) == expected


def test_failing_disk_is_red_and_sorted_first():
    facts = {"slow": slow_facts([entry("sda"), entry("sdb", passed=False, pending_sectors=8)])}
    verdict = evaluate("online", NOW, 0.0, facts, NOW, Thresholds())
    assert verdict.level == "critical"
    assert [r.text for r in verdict.reasons[:2]] == [
        "sdb: SMART health FAILED",
        "sdb: 8 pending sectors",
    ]


def test_real_failing_disk_through_the_agent_parser():
    text = (SMARTCTL / "ata-hdd-hitachi-hds721050-failed-usb-jmicron.json").read_text()
    disk = {"device": "sdb", "by_id": [], **agent_disks.parse(text, 216)}
    assert reasons([disk]) == [
        ("critical", "disk_failed", "sdb", "sdb: SMART health FAILED"),
        ("warning", "disk_sectors", "sdb", "sdb: 1975 reallocated, 8 pending sectors"),
    ]


def test_standby_disk_keeps_its_last_known_values_and_reasons():
    awake = slow_facts([entry(reallocated_sectors=8, temperature_c=33)])
    later = BASE_TIME + timedelta(minutes=30)
    asleep = {
        "device": "sdb",
        "standby": True,
        "by_id": ["ata-DISK_sdb"],
        **dict.fromkeys(agent_disks.VALUE_KEYS),
    }
    first = slow_facts([asleep], previous=awake, at=later)
    [disk] = first["disks"]
    assert disk["standby"] is True
    assert disk["reallocated_sectors"] == 8 and disk["temperature_c"] == 33
    assert disk["values_from"] == rfc3339(BASE_TIME)
    assert disk["asleep_since"] == rfc3339(later)
    still = slow_facts([asleep], previous=first, at=later + timedelta(minutes=30))
    [disk] = still["disks"]
    assert disk["asleep_since"] == rfc3339(later)  # since the first sample that found it asleep
    assert disk["values_from"] == rfc3339(BASE_TIME)
    verdict = evaluate("online", NOW, 0.0, {"slow": still}, NOW, Thresholds())
    assert "sdb: 8 reallocated sectors" in [r.text for r in verdict.reasons]


def test_standby_disk_never_seen_awake_has_no_values_and_no_reason():
    asleep = {
        "device": "sdc",
        "standby": True,
        "by_id": [],
        **dict.fromkeys(agent_disks.VALUE_KEYS),
    }
    [disk] = slow_facts([asleep])["disks"]
    assert disk["values_from"] is None and disk["passed"] is None
    assert reasons([asleep]) == []


def test_standby_values_follow_the_disk_not_its_device_name():
    # After a reboot sdb became sdc: the by-id name says which disk it is.
    awake = slow_facts([entry("sdb", reallocated_sectors=3), entry("sdc", reallocated_sectors=0)])
    renamed = {
        "device": "sdc",
        "standby": True,
        "by_id": ["ata-DISK_sdb"],
        **dict.fromkeys(agent_disks.VALUE_KEYS),
    }
    [disk] = slow_facts([renamed], previous=awake)["disks"]
    assert disk["reallocated_sectors"] == 3


def test_a_disk_that_could_not_be_read_shows_its_error_and_no_reason():
    broken = {
        **entry("sdd"),
        "passed": None,
        "reallocated_sectors": None,
        "error": "smartctl: No such device",
    }
    [disk] = slow_facts([broken])["disks"]
    assert disk["error"] == "smartctl: No such device" and disk["values_from"] is None
    assert reasons([broken]) == []


def test_facts_survive_json_and_ignore_garbage_entries():
    facts = slow_facts([entry(), "not a disk", {"no": "device"}])
    assert [disk["device"] for disk in json.loads(json.dumps(facts))["disks"]] == ["sdb"]


def test_disk_rules_are_alert_rules_read_from_the_slow_disks_facts():
    for rule in ("disk_failed", "disk_sectors", "disk_wear", "disk_warning"):
        assert rule in RULES and SOURCES[rule] == ("slow", "disks")
