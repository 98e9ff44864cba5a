from pathlib import Path

import pytest

from agent.collectors import replication
from agent.machine import Machine, SourceError

HANDMADE = Path(__file__).parent / "fixtures" / "handmade"


def test_replication_cfg_jobs_with_default_schedule_and_disable():
    assert replication.parse_config((HANDMADE / "replication.cfg").read_text()) == [
        {
            "id": "900-0",
            "vmid": 900,
            "target": "node2",
            "schedule": "*/15",
            "enabled": True,
            "source": None,
        },
        {
            "id": "901-0",
            "vmid": 901,
            "target": "node2",
            "schedule": "mon..fri 22:00",
            "enabled": True,
            "source": "node1",
        },
        {
            "id": "902-0",
            "vmid": 902,
            "target": "node3",
            "schedule": "*/15",
            "enabled": False,
            "source": None,
        },
    ]


def test_jobs_with_their_state_failed_ok_and_never_run():
    jobs = replication.parse_config((HANDMADE / "replication.cfg").read_text())
    state = replication.parse_state((HANDMADE / "pve-replication-state.json").read_text())
    assert replication.summarize(jobs, state) == [
        {
            "id": "900-0",
            "vmid": 900,
            "target": "node2",
            "schedule": "*/15",
            "last_sync": "1970-01-01T00:30:40Z",
            "last_try": "1970-01-01T00:45:40Z",
            "fail_count": 1,
            "error": "no such volid 'local-zfs:vm-900-disk-2'",
            "duration_s": 1.21,
            "enabled": True,
        },
        {
            "id": "901-0",
            "vmid": 901,
            "target": "node2",
            "schedule": "mon..fri 22:00",
            "last_sync": "1970-01-01T00:16:40Z",
            "last_try": "1970-01-01T00:16:40Z",
            "fail_count": 0,
            "error": None,
            "duration_s": 12.53,
            "enabled": True,
        },
        {
            "id": "902-0",
            "vmid": 902,
            "target": "node3",
            "schedule": "*/15",
            "last_sync": None,
            "last_try": None,
            "fail_count": 0,
            "error": None,
            "duration_s": None,
            "enabled": False,
        },
    ]


def test_empty_state_file_is_an_empty_state():
    assert replication.parse_state("") == {}


@pytest.mark.parametrize(
    ("parse", "body", "reason"),
    [
        (replication.parse_state, "{not json", "pve-replication-state.json: not JSON"),
        (replication.parse_state, "[]", "pve-replication-state.json: expected an object"),
        (replication.parse_config, "local: 100-0\n\tschedule */5\n", "job 100-0: no target"),
        (replication.parse_config, "\ttarget x\n", "replication.cfg: line 1: not part"),
    ],
)
def test_malformed_input_is_a_source_error(parse, body, reason):
    with pytest.raises(SourceError, match=reason):
        parse(body)


def test_bad_values_in_the_state_are_a_source_error():
    jobs = replication.parse_config("local: 100-0\n\ttarget b\n")
    with pytest.raises(SourceError, match="replication 100-0: fail_count: expected an integer"):
        replication.summarize(jobs, {"100": {"local/b": {"fail_count": "many"}}})


def make_host(tmp_path, cfg=None, state=None) -> Machine:
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("node1\n")
    node = root / "etc/pve/nodes/node1"
    (node / "qemu-server").mkdir(parents=True)
    (node / "qemu-server/900.conf").write_text("name: db\n")
    (node / "qemu-server/901.conf").write_text("name: web\n")
    if cfg is not None:
        (root / "etc/pve/replication.cfg").write_text(cfg)
    if state is not None:
        (root / "var/lib/pve-manager").mkdir(parents=True)
        (root / "var/lib/pve-manager/pve-replication-state.json").write_text(state)
    return Machine(root=root, path=str(tmp_path / "no-bin"))


def test_collect_reads_files_only_and_keeps_this_nodes_guests(tmp_path):
    machine = make_host(
        tmp_path,
        (HANDMADE / "replication.cfg").read_text(),
        (HANDMADE / "pve-replication-state.json").read_text(),
    )
    entries = replication.collect(machine)
    assert [entry["id"] for entry in entries] == ["900-0", "901-0"]  # 902 lives elsewhere
    assert entries[0]["fail_count"] == 1
    assert machine.spawned == 0


def test_no_replication_cfg_is_an_empty_list_not_an_error(tmp_path):
    assert replication.collect(make_host(tmp_path)) == []


def test_jobs_that_never_ran_have_no_state_file(tmp_path):
    [entry, _] = replication.collect(
        make_host(tmp_path, "local: 900-0\n\ttarget n2\n\nlocal: 901-0\n\ttarget n2\n")
    )
    assert entry["last_sync"] is None and entry["fail_count"] == 0
