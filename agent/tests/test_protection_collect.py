"""The backups and replication sources on the fake host: data, errors, processes, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent import collect, collectors
from agent.collect import collect_tier
from agent.collectors import backups, replication
from agent.tests import fakehost
from metrics.decode import validate_sample

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(collect, "_not_applicable", set())
    monkeypatch.setattr(collect, "_failing", {})


def test_fake_host_backups_cover_ok_failed_uncovered_and_foreign_guests(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors == {}
    guests = {guest["vmid"]: guest for guest in data["backups"]["guests"]}
    assert sorted(guests) == [100, 101, 102, 103, 105]
    assert guests[100]["covered"] and guests[100]["verified"] == "ok"
    assert guests[100]["last_task"]["ok"] is True and guests[100]["count"] == 2
    assert guests[101]["covered"] and guests[101]["last_task"]["ok"] is False
    assert guests[101]["last_task"]["error"].startswith("command 'set -o pipefail")
    assert not guests[102]["covered"] and guests[102]["newest"] is None
    assert (guests[105]["count"], guests[105]["type"], guests[105]["covered"]) == (4, None, False)
    assert [job["vmids"] for job in data["backups"]["jobs"]] == [[140], [101], [100]]
    assert [(r["id"], r["fail_count"]) for r in data["replication"]] == [("100-0", 1), ("101-0", 0)]


def test_processes_per_medium_cycle_with_and_without_these_sources(tmp_path, monkeypatch):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    machine = fake.machine()
    collect_tier(machine, "medium")  # a first cycle may probe for ZFS JSON support
    before = machine.spawned
    collect_tier(machine, "medium")
    with_them = machine.spawned - before
    monkeypatch.setattr(
        collect,
        "COLLECTORS",
        tuple(m for m in collectors.COLLECTORS if m not in (backups, replication)),
    )
    before = machine.spawned
    collect_tier(machine, "medium")
    without = machine.spawned - before
    # zfs list + qm guest cmd; backups adds one pvesh for the storage list and one per backup
    # storage (local, pbs-local); replication reads two files and starts nothing
    assert (without, with_them) == (2, 5)


def test_a_backup_storage_that_does_not_answer_keeps_the_others(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    (fake.base / "out/content-pbs-local.json").unlink()  # the stand-in's `cat` now fails
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors == {}
    assert list(data["backups"]["storage_errors"]) == ["pbs-local"]
    assert data["backups"]["storage_errors"]["pbs-local"].startswith("pvesh get /nodes/pve-fake")
    newest = {g["vmid"]: g["newest_storage"] for g in data["backups"]["guests"]}
    assert newest[105] == "local" and newest[100] is None


def test_a_failing_storage_list_is_an_error_entry_and_replication_stays(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    (fake.base / "out/backup-storages.json").write_text("<html>proxy error</html>")
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors["backups"].startswith("pvesh get /nodes/pve-fake/storage: not JSON")
    assert "backups" not in data and len(data["replication"]) == 2


def test_no_jobs_no_tasks_no_replication_is_not_an_error(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 1)
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors == {}
    assert data["backups"]["jobs"] == [] and data["replication"] == []
    assert [(g["vmid"], g["covered"], g["newest"]) for g in data["backups"]["guests"]] == [
        (100, False, None)
    ]


def test_collect_once_carries_backups_and_replication(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--once", "--root", str(fake.root)]
        + ["--tier", "medium"],
        cwd=REPO,
        env={**fake.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    frame = json.loads(result.stdout)["medium"]
    assert validate_sample(frame) is None and frame["errors"] == {}
    assert len(frame["data"]["backups"]["guests"]) == 5
    assert frame["data"]["replication"][0]["error"] == "no such volid 'local-zfs:vm-900-disk-2'"
    calls = fake.calls()
    assert "pvesh get /nodes/pve-fake/storage/pbs-local/content --content backup" in " ".join(calls)
