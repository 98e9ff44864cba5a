import json
from pathlib import Path
from typing import Any

import pytest

from agent.collectors import backups
from agent.collectors.pve_files import decode_upid, parse_section_config
from agent.machine import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
BACKUPS = FIXTURES / "backups"
HANDMADE = FIXTURES / "handmade"


def text(name: str) -> str:
    return (BACKUPS / name).read_text()


# --- jobs.cfg ----------------------------------------------------------------------------------


def test_job_of_every_guest_to_pbs():
    assert backups.parse_jobs(text("jobs-cfg-all-pbs-blog.cfg")) == [
        {
            "id": "backup-07cdf241-8b56",
            "enabled": True,
            "schedule": "2:00",
            "storage": "vaultpbs",
            "all": True,
            "vmids": [],
            "exclude": [],
            "pool": None,
            "node": None,
        }
    ]


def test_job_limited_to_one_node_with_a_vmid_list_indented_by_spaces():
    [job] = backups.parse_jobs(text("jobs-cfg-node-vmid-list-space-indented.cfg"))
    assert job["id"] == "backup-268aee6e-c688"
    assert job["schedule"] == "sun 01:00"
    assert job["node"] == ["proxmox"]
    assert job["vmids"] == [9000, 102, 101, 100]
    assert job["all"] is False and job["storage"] == "nas-backups"


def test_three_single_guest_jobs_sorted_by_id():
    jobs = backups.parse_jobs(text("jobs-cfg-three-single-vmid-jobs.cfg"))
    assert [(job["id"], job["vmids"], job["schedule"]) for job in jobs] == [
        ("backup-1d25bba8-fcc5", [140], "02:30"),
        ("backup-ba8f29ba-973c", [111], "02:00"),
        ("backup-f4f23ee8-6be3", [200], "02:15"),
    ]


def test_coverage_follows_all_exclude_vmids_pool_node_and_enabled():
    jobs = backups.parse_jobs(
        "vzdump: backup-all\n\tall 1\n\texclude 101,102\n\tnode pve1,pve2\n\n"
        "vzdump: backup-pool\n\tpool web\n\n"
        "vzdump: backup-off\n\tvmid 300\n\tenabled 0\n\n"
        "realmsync: sync-ldap\n\trealm ldap\n"
    )
    assert [job["id"] for job in jobs] == ["backup-all", "backup-off", "backup-pool"]
    pools = backups.parse_pools(
        "user:root@pam:1:0:::root@example.com:::\npool:web::200,201:local:\n"
    )
    assert pools == {"web": {200, 201}}

    def covered(node, vmid):
        return backups.covering_jobs(jobs, node, vmid, pools)

    assert covered("pve1", 100) == ["backup-all"]
    assert covered("pve1", 101) == []  # excluded
    assert covered("pve3", 100) == []  # the job runs on pve1 and pve2 only
    assert covered("pve3", 200) == ["backup-pool"]
    assert covered("pve3", 300) == []  # its only job is disabled


def test_no_jobs_file_is_no_jobs():
    assert backups.parse_jobs("") == []


@pytest.mark.parametrize(
    ("cfg", "reason"),
    [
        ("\tschedule 2:00\n", "jobs.cfg: line 1: not part of a section"),
        ("vzdump: j\n\tenabled yes\n", "jobs.cfg: job j: enabled: expected 0 or 1, got 'yes'"),
        ("vzdump: j\n\tvmid 100,web\n", "jobs.cfg: job j: vmid: 'web' is not a guest id"),
    ],
)
def test_malformed_jobs_cfg_is_a_source_error(cfg, reason):
    with pytest.raises(SourceError, match="^" + reason.replace("(", r"\(") + "$"):
        backups.parse_jobs(cfg)


def test_section_config_bare_flag_is_set():
    assert parse_section_config("local: 1-0\n\ttarget b\n\tdisable\n", "x") == [
        ("local", "1-0", {"target": "b", "disable": "1"})
    ]


# --- tasks -------------------------------------------------------------------------------------


def test_upid_is_decoded_as_pve_does():
    task = decode_upid("UPID:proxmox:00047BB7:0173F2F4:6AA2F284:qmdelsnapshot:100:root@pam:")
    assert task == {
        "upid": "UPID:proxmox:00047BB7:0173F2F4:6AA2F284:qmdelsnapshot:100:root@pam:",
        "node": "proxmox",
        "starttime": 0x6AA2F284,
        "type": "qmdelsnapshot",
        "id": "100",
        "user": "root@pam",
        "subdir": "4",
    }
    assert decode_upid("UPID:pve:1:2:3:vzdump::root@pam:") is None  # short hex fields
    assert decode_upid("not a upid") is None


def test_real_task_index_tail():
    tasks = backups.parse_task_index(text("tasks-index-tail-qmdelsnapshot.txt"))
    assert [(t["type"], t["id"], t["endtime"], t["status"]) for t in tasks] == [
        ("qmdelsnapshot", "100", 0x6AA2F284, "OK"),
        ("qmdelsnapshot", "107", 0x6AA2F285, "OK"),
        ("qmdelsnapshot", "107", 0x6AA2F286, "OK"),
    ]
    disks = backups.parse_task_index(text("tasks-index-wipedisk-diskinit.txt"))
    assert [(t["node"], t["type"], t["id"]) for t in disks] == [
        ("blue-server", "wipedisk", "sda"),
        ("blue-server", "diskinit", "sda"),
    ]


def test_index_lines_pve_would_not_read_are_skipped():
    index = (
        "garbage\n"
        "UPID:pve:0000A1B5:0AC00000:66900E00:vzdump::root@pam: 66900F00 job errors\n"
        "UPID:pve:0000A1B5:0AC00000:66900E00:vzdump::root@pam: nothex OK\n"
        "UPID:broken: 66900F00 OK\n"
    )
    [task] = backups.parse_task_index(index)
    assert task["status"] == "job errors" and task["endtime"] == 0x66900F00


def test_running_task_in_active_is_not_finished():
    assert backups.parse_task_active(text("tasks-active-running-vzdump.txt")) == []
    ended = backups.parse_task_active(
        "UPID:pve:0000A1B5:0AC00000:66900E00:vzdump:100:root@pam: 1 66900F00 WARNINGS: 2\n"
    )
    assert [(t["id"], t["status"]) for t in ended] == [("100", "WARNINGS: 2")]
    assert backups.status_ok("WARNINGS: 2") and backups.status_ok("OK")
    assert not backups.status_ok("job errors")


def test_task_log_of_a_failed_container_backup():
    [(vmid, result)] = backups.parse_vzdump_log(
        text("vzdump-task-log-lxc-107-failed-nfs-permission.log")
    ).items()
    assert vmid == 107 and result["ok"] is False
    assert result["error"].startswith("command 'set -o pipefail && lxc-usernsexec")
    assert len(result["error"]) == 240 and result["error"].endswith("...")


def test_log_of_a_finished_backup():
    assert backups.parse_vzdump_log(text("vzdump-log-lxc-100-finished-cli.log")) == {
        100: {"ok": True, "error": None}
    }


def test_guest_started_but_never_finished_failed_with_the_job():
    log = (
        "INFO: Starting Backup of VM 100 (qemu)\n"
        "INFO: Finished Backup of VM 100 (00:00:41)\n"
        "INFO: Starting Backup of VM 102 (qemu)\n"
        "TASK ERROR: interrupted by signal\n"
    )
    assert backups.parse_vzdump_log(log) == {
        100: {"ok": True, "error": None},
        102: {"ok": False, "error": "interrupted by signal"},
    }
    assert backups.parse_vzdump_log("INFO: Starting Backup of VM 5 (lxc)\n") == {
        5: {"ok": False, "error": "did not finish"}
    }


# --- storage content ---------------------------------------------------------------------------


def test_directory_storage_with_vzdump_archives():
    found = backups.parse_content(text("pvesh-storage-content-dir-lxc-vzdump-iobroker.json"), "nas")
    assert [(b["vmid"], b["ctime"], b["size"]) for b in found] == [
        (103, 1736733847, 235318529),
        (105, 1736388263, 438767908),
        (105, 1736474652, 440058247),
        (105, 1736561055, 440060613),
        (105, 1736647456, 441676743),
    ]
    assert {b["verified"] for b in found} == {None} and {b["storage"] for b in found} == {"nas"}


def test_pbs_storage_with_verification_states():
    body = (HANDMADE / "pvesh-storage-content-pbs-from-pbsplugin.json").read_text()
    found = backups.parse_content(json.dumps({"data": json.loads(body)}), "pbs-local")
    assert [(b["vmid"], b["verified"]) for b in found] == [
        (104, "ok"),
        (104, "failed"),
        (207, None),  # never verified
        (9000, "failed"),
    ]


def test_non_backup_content_and_files_without_vmid_are_skipped():
    body = (
        '[{"volid":"local:iso/debian.iso","content":"iso","vmid":1},'
        '{"volid":"local:backup/x.tar","content":"backup"}]'
    )
    assert backups.parse_content(body, "local") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "pvesh get storage s content: empty output"),
        ("{}", "storage s content: expected a list"),
        ("[1]", "storage s content: expected objects"),
        (
            '[{"volid":"s:backup/a","vmid":"web"}]',
            "storage s: s:backup/a: vmid: expected an integer",
        ),
    ],
)
def test_malformed_content_is_a_source_error(body, reason):
    with pytest.raises(SourceError) as caught:
        backups.parse_content(body, "s")
    assert str(caught.value).startswith(reason)


def test_backup_storages_are_enabled_active_and_hold_backups():
    listing = json.loads(
        (FIXTURES / "pve" / "api-node-storage-pve9-dir-zfspool-lvmthin.json").read_text()
    )["data"]
    assert backups.backup_storages(listing) == ["local"]
    assert backups.backup_storages(
        [
            {"storage": "off", "content": "backup", "enabled": 1, "active": 0},
            {"storage": "pbs", "content": "backup", "enabled": 1, "active": 1, "type": "pbs"},
        ]
    ) == ["pbs"]


# --- the guest list ----------------------------------------------------------------------------


def test_guests_of_the_node_and_vmids_with_backups_elsewhere():
    guests = {100: {"type": "qemu", "name": "web", "template": False}}
    jobs = backups.parse_jobs("vzdump: j\n\tvmid 100\n")
    found: list[dict[str, Any]] = [
        {"vmid": 100, "ctime": 10, "size": 5, "verified": "failed", "storage": "a"},
        {"vmid": 100, "ctime": 20, "size": 7, "verified": None, "storage": "b"},
        {"vmid": 9000, "ctime": 30, "size": 1, "verified": "ok", "storage": "a"},
    ]
    tasks = {100: {"end_time": "1970-01-01T00:00:25Z", "ok": True, "error": None}}
    assert backups.summarize("pve", guests, jobs, {}, found, tasks) == [
        {
            "vmid": 100,
            "covered": True,
            "newest": "1970-01-01T00:00:20Z",
            "newest_storage": "b",
            "newest_size": 7,
            "count": 2,
            "verified": None,
            "last_task": tasks[100],
            "type": "qemu",
            "name": "web",
            "template": False,
        },
        {
            "vmid": 9000,
            "covered": False,  # not a guest of this node: no job here backs it up
            "newest": "1970-01-01T00:00:30Z",
            "newest_storage": "a",
            "newest_size": 1,
            "count": 1,
            "verified": "ok",
            "last_task": None,
            "type": None,
            "name": None,
            "template": None,
        },
    ]
