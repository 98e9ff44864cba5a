import json
import shutil
from pathlib import Path

import pytest

from agent.collectors import storage
from agent.machine import Machine, NotApplicable, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
PVE9_STORAGE = FIXTURES / "pve" / "api-node-storage-pve9-dir-zfspool-lvmthin.json"


def fixture(path: Path) -> str:
    return path.read_text()


def fake_host(tmp_path: Path, pvesh_body: str) -> Machine:
    """Host pve.example.com whose `pvesh` stand-in logs its arguments, then runs `pvesh_body`."""
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve.example.com\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pvesh = bin_dir / "pvesh"
    pvesh.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "pvesh.log"}\n{pvesh_body}\n')
    pvesh.chmod(0o755)
    return Machine(root=root, path=str(bin_dir))


def test_pve9_node_storage_dir_zfspool_lvmthin():
    assert storage.parse(fixture(PVE9_STORAGE)) == [
        {
            "storage": "local",
            "type": "dir",
            "enabled": True,
            "active": True,
            "shared": False,
            "content": ["backup", "import", "iso", "vztmpl"],
            "used": 11240329216,
            "total": 23215472640,
        },
        {
            "storage": "local-lvm",
            "type": "lvmthin",
            "enabled": True,
            "active": True,
            "shared": False,
            "content": ["images", "rootdir"],
            "used": 10645123419,
            "total": 14558429184,
        },
        {
            "storage": "vmdata",
            "type": "zfspool",
            "enabled": True,
            "active": True,
            "shared": False,
            "content": ["images", "rootdir"],
            "used": 13968384,
            "total": 103515422720,
        },
    ]


def test_bare_pvesh_list_parses_like_the_api_body():
    bare = json.dumps(json.loads(fixture(PVE9_STORAGE))["data"])
    assert storage.parse(bare) == storage.parse(fixture(PVE9_STORAGE))


def test_numbers_and_flags_as_strings_are_accepted():
    [entry] = storage.parse(
        '[{"storage": "nfs-backup", "type": "nfs", "enabled": "1", "active": "1", "shared": "1",'
        ' "content": "backup", "used": "1000", "total": "4000"}]'
    )
    assert entry["shared"] is True
    assert (entry["used"], entry["total"]) == (1000, 4000)


def test_disabled_or_inactive_storage_has_null_sizes():
    # PVE's storage_info reports 0/0 placeholders (or no keys) for storages it did not measure.
    disabled, inactive = storage.parse(
        '[{"storage": "a-usb", "type": "dir", "enabled": 0, "active": 0, "shared": 0,'
        ' "content": "import", "used": 0, "total": 0},'
        ' {"storage": "b-nfs", "type": "nfs", "enabled": 1, "active": 0, "shared": 1,'
        ' "content": "images"}]'
    )
    assert disabled["enabled"] is False and disabled["used"] is None and disabled["total"] is None
    assert inactive["enabled"] is True and inactive["active"] is False
    assert inactive["used"] is None and inactive["total"] is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pvesh: command not found",
        '{"storage": "local"}',
        "[1, 2]",
        '[{"type": "dir"}]',
        '[{"storage": "local", "type": "dir", "active": 1, "used": "lots", "total": 1}]',
        '[{"storage": "local", "type": "dir", "active": "yes"}]',
    ],
)
def test_malformed_storage_output_is_a_source_error(text):
    with pytest.raises(SourceError):
        storage.parse(text)


def test_without_pmxcfs_files_collect_asks_pvesh_for_this_node_once(tmp_path):
    machine = fake_host(tmp_path, f"exec {shutil.which('cat')} {PVE9_STORAGE}")
    result, via = storage.collect(machine)
    assert via == "pvesh"
    assert [entry["storage"] for entry in result] == ["local", "local-lvm", "vmdata"]
    assert machine.spawned == 1
    log = (tmp_path / "pvesh.log").read_text()
    assert log == "get /nodes/pve/storage --output-format json\n"


def test_hanging_pvesh_is_a_source_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "TIMEOUT_S", 0.3)
    machine = fake_host(tmp_path, f"exec {shutil.which('sleep')} 30")
    with pytest.raises(SourceError, match="timed out"):
        storage.collect(machine)


def test_failing_pvesh_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path, "echo 'ipcc_send_rec[1] failed: Connection refused' >&2; exit 2")
    with pytest.raises(SourceError, match="Connection refused"):
        storage.collect(machine)


def test_without_pvesh_storage_is_not_applicable(tmp_path):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/hostname").write_text("pve\n")
    with pytest.raises(NotApplicable):
        storage.collect(Machine(root=tmp_path, path=str(tmp_path / "empty-bin")))
