"""Backups and replication rules (metrics/protection.py), through summary.compact and status."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from metrics.protection import backup_state, findings, schedule_interval_s
from metrics.status import Thresholds, _age, evaluate
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA, rfc3339

NOW = BASE_TIME + timedelta(seconds=10)
HOUR = 3600


def ago(**delta) -> str:
    return rfc3339(NOW - timedelta(**delta))


def guest(vmid=104, **changes) -> dict:
    entry = {
        "vmid": vmid,
        "covered": True,
        "newest": ago(hours=2),
        "newest_storage": "pbs",
        "newest_size": 1024,
        "count": 3,
        "verified": "ok",
        "last_task": {"end_time": ago(hours=2), "ok": True, "error": None},
        "type": "qemu",
        "name": "web-02",
        "template": False,
    }
    entry.update(changes)
    return entry


def job(**changes) -> dict:
    entry = {
        "id": "100-0",
        "vmid": 100,
        "target": "pve2",
        "schedule": "*/15",
        "last_sync": ago(minutes=10),
        "last_try": ago(minutes=10),
        "fail_count": 0,
        "error": None,
        "duration_s": 2.5,
    }
    entry.update(changes)
    return entry


def facts(guests=(), replication=(), storage_errors=None) -> dict:
    data = copy.deepcopy(DATA["medium"])
    data["backups"] = {"jobs": [], "guests": list(guests)}
    if storage_errors:
        data["backups"]["storage_errors"] = storage_errors
    data["replication"] = list(replication)
    return {"medium": compact("medium", data, {}, BASE_TIME, BASE_TIME, None)}


def reasons(medium_facts: dict, **thresholds) -> list[tuple[str, str, str]]:
    verdict = evaluate("online", NOW, None, medium_facts, NOW, Thresholds(**thresholds))
    return [
        (r.level, r.rule, r.text)
        for r in verdict.reasons
        if r.rule.startswith(("backup", "replication"))
    ]


CASES = [
    ("recent backup", [guest()], []),
    ("exactly 36 h old", [guest(newest=ago(hours=36))], []),
    (
        "36 h and a second",
        [guest(newest=ago(hours=36, seconds=1))],
        [("warning", "backup_age", "vm 104 web-02: last backup 36 h ago")],
    ),
    (
        "3 days old",
        [guest(newest=ago(days=3, hours=1))],
        [("warning", "backup_age", "vm 104 web-02: last backup 3 days ago")],
    ),
    (
        "covered, never backed up",
        [guest(newest=None, count=0, last_task=None)],
        [("warning", "backup_age", "vm 104 web-02: never backed up")],
    ),
    (
        "last task failed, newest backup still recent",
        [guest(last_task={"end_time": ago(hours=1), "ok": False, "error": "no space left"})],
        [("warning", "backup_failed", "vm 104 web-02: last backup failed: no space left")],
    ),
    (
        "failed and old: two reasons",
        [
            guest(
                type="lxc",
                name=None,
                newest=ago(days=4),
                last_task={"end_time": ago(hours=1), "ok": False, "error": None},
            )
        ],
        [
            ("warning", "backup_failed", "ct 104: last backup failed"),
            ("warning", "backup_age", "ct 104: last backup 4 days ago"),
        ],
    ),
    ("not covered by any job: listed, not warned", [guest(covered=False, newest=None)], []),
    ("template: listed, not warned", [guest(template=True, newest=ago(days=90))], []),
    (
        "vmid with backups only",
        [guest(vmid=9000, covered=False, type=None, name=None, newest=ago(days=400))],
        [],
    ),
]


@pytest.mark.parametrize(("guests", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_backup_rules(guests, expected):
    assert reasons(facts(guests)) == expected


def test_backup_age_setting_moves_the_boundary():
    late = facts([guest(newest=ago(hours=25))])
    assert reasons(late) == []
    assert [r[1] for r in reasons(late, backup_max_age_h=24)] == ["backup_age"]


def test_long_error_is_cut():
    failed = guest(last_task={"end_time": ago(hours=1), "ok": False, "error": "x " * 200})
    [(_, _, text)] = reasons(facts([failed]))
    assert text.endswith("…") and len(text) <= len("vm 104 web-02: last backup failed: ") + 80


def test_unlisted_backup_storage_is_a_warning():
    found = reasons(facts([guest()], storage_errors={"pbs": "pvesh get ...: timed out after 60 s"}))
    assert found == [
        (
            "warning",
            "backup_storage",
            "backup storage pbs not listed: pvesh get ...: timed out after 60 s",
        )
    ]


REPLICATION = [
    ("synced 10 min ago", [job()], []),
    ("exactly 3 x 15 min", [job(last_sync=ago(minutes=45))], []),
    (
        "45 min and a second",
        [job(last_sync=ago(minutes=45, seconds=1))],
        [("warning", "replication_stale", "replication 100-0 to pve2: last sync 45 min ago")],
    ),
    (
        "one failure",
        [job(fail_count=1, error="no such volid 'local-zfs:vm-100-disk-2'")],
        [
            (
                "warning",
                "replication_failed",
                "replication 100-0 to pve2: failed once: no such volid 'local-zfs:vm-100-disk-2'",
            )
        ],
    ),
    (
        "three failures, stale too",
        [job(fail_count=3, error=None, last_sync=ago(hours=5))],
        [
            ("warning", "replication_failed", "replication 100-0 to pve2: failed 3 times"),
            ("warning", "replication_stale", "replication 100-0 to pve2: last sync 5 h ago"),
        ],
    ),
    ("disabled job", [job(fail_count=2, enabled=False)], []),
    ("never synced, no failure", [job(last_sync=None, last_try=None)], []),
    (
        "weekday schedule, Friday to Monday",
        [job(schedule="mon..fri 22:00", last_sync=ago(days=3))],
        [],
    ),
    (
        "weekday schedule, 9 days",
        [job(schedule="mon..fri 22:00", last_sync=ago(days=9, minutes=1))],
        [("warning", "replication_stale", "replication 100-0 to pve2: last sync 9 days ago")],
    ),
    ("schedule not read here", [job(schedule="2026-01-01 00:00", last_sync=ago(days=300))], []),
]


@pytest.mark.parametrize(
    ("jobs", "expected"), [c[1:] for c in REPLICATION], ids=[c[0] for c in REPLICATION]
)
def test_replication_rules(jobs, expected):
    assert reasons(facts(replication=jobs)) == expected


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("*/15", 0.25),
        ("*/5", 5 / 60),
        ("0/30", 0.5),
        ("02:00", 24),
        ("2:00", 24),
        ("22:30", 24),
        ("*/2:00", 2),
        ("8..17:00", 15),  # 17:00 to 08:00 the next day
        ("mon..fri 22:00", 72),  # Friday night to Monday night
        ("sat 03:30", 168),
        ("sun 01:00", 168),
        ("mon,wed,fri 02:00", 72),
        ("fri..mon 01:00", 96),  # wraps round the week: Mon 01:00 to Fri 01:00
        ("hourly", 1),
        ("daily", 24),
        ("weekly", 168),
        ("monthly", 31 * 24),
    ],
)
def test_schedule_interval(schedule, hours):
    assert schedule_interval_s(schedule) == pytest.approx(hours * HOUR)


@pytest.mark.parametrize(
    "schedule", ["", "0 2 * * *", "2026-01-01", "*-*-01 00:00", "funday 02:00", "25:00", "*/0", "x"]
)
def test_schedule_not_read(schedule):
    assert schedule_interval_s(schedule) is None


def test_backup_states_for_pages():
    max_h = 36
    assert backup_state(guest(), NOW, max_h) == "ok"
    assert backup_state(guest(newest=ago(days=2)), NOW, max_h) == "old"
    assert backup_state(guest(newest=None), NOW, max_h) == "none"
    failed = guest(last_task={"end_time": ago(hours=1), "ok": False, "error": None})
    assert backup_state(failed, NOW, max_h) == "failed"
    assert backup_state(guest(covered=False), NOW, max_h) == "uncovered"
    assert backup_state(guest(template=True), NOW, max_h) == "template"


def test_findings_without_medium_facts():
    assert findings({}, NOW, 36, _age) == []


@pytest.mark.parametrize("value", ["0", "0.5", "-36"])
def test_a_backup_age_below_one_hour_stops_the_server_naming_the_variable(value):
    from proxmon.tests.test_settings import manage

    result = manage("check", SECRET_KEY="k" * 60, PROXMON_STATUS_BACKUP_MAX_AGE_H=value)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "(proxmon.E002)" in line]
    assert f"PROXMON_STATUS_BACKUP_MAX_AGE_H={value!r}: must be at least 1" in line


def test_the_backup_age_setting_reaches_the_rules(settings):
    settings.PROXMON_STATUS_BACKUP_MAX_AGE_H = 12.0
    assert Thresholds.from_settings().backup_max_age_h == 12.0
