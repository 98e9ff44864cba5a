import json
import shutil
from pathlib import Path

import pytest

from agent.collectors import guests, storage
from agent.machine import Machine, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
PVE81_VMS = FIXTURES / "pve" / "api-cluster-resources-type-vm-with-template-and-tags-pve8.1.json"
CLUSTER_ALL = FIXTURES / "pve" / "api-cluster-resources-qemu-node-storage.json"
LXC_LIST = FIXTURES / "pve" / "api-lxc-list-running-and-stopped-template.json"
PVE9_STORAGE = FIXTURES / "pve" / "api-node-storage-pve9-dir-zfspool-lvmthin.json"


def fake_host(tmp_path: Path, resources: str, hang: bool = False) -> Machine:
    """Host `pve` whose `pvesh` stand-in answers /cluster/resources with `resources`."""
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    (tmp_path / "resources.json").write_text(resources)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cat = shutil.which("cat")
    answer = f"exec {shutil.which('sleep')} 30" if hang else f"exec {cat} {tmp_path}/resources.json"
    (bin_dir / "pvesh").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/pvesh.log\n'
        'case "$2" in\n'
        f"  /cluster/resources) {answer} ;;\n"
        f"  /nodes/pve/storage) exec {cat} {PVE9_STORAGE} ;;\n"
        "esac\n"
        "exit 2\n"
    )
    (bin_dir / "pvesh").chmod(0o755)
    return Machine(root=root, path=str(bin_dir))


def many_guests(count: int) -> str:
    """`count` guests of node pve, cloned from the real PVE 8.1 entries with new vmids."""
    real = json.loads(PVE81_VMS.read_text())["data"]
    clones = []
    for index in range(count):
        entry = dict(real[index % len(real)], vmid=1000 + index)
        entry["type"] = "lxc" if index % 2 else "qemu"
        entry["id"] = f"{entry['type']}/{entry['vmid']}"
        clones.append(entry)
    return json.dumps(clones)


def test_pve81_resources_keep_template_flag_and_stopped_guests():
    result = guests.parse(PVE81_VMS.read_text(), node="pve")
    assert [guest["vmid"] for guest in result] == [100, 101, 102]
    assert result[1] == {
        "vmid": 101,
        "type": "qemu",
        "name": "second-vm",
        "status": "stopped",
        "uptime_s": 0,
        "cpu_percent": 0.0,
        "cpus": 1,
        "mem": 0,
        "maxmem": 2147483648,
        "disk_read": 0,
        "disk_write": 0,
        "net_in": 0,
        "net_out": 0,
        "template": False,
    }
    assert result[2]["template"] is True and result[2]["name"] == "template-three"


def test_cluster_resources_keep_only_guests_of_this_node():
    result = guests.parse(CLUSTER_ALL.read_text(), node="node2")
    assert result == [
        {
            "vmid": 100,
            "type": "qemu",
            "name": "server1",
            "status": "running",
            "uptime_s": 874350,
            "cpu_percent": 2.49,
            "cpus": 1,
            "mem": 842551296,
            "maxmem": 1073741824,
            "disk_read": 4510777856,
            "disk_write": 6059209728,
            "net_in": 2456116121,
            "net_out": 545248946,
            "template": False,
        }
    ]
    node1 = guests.parse(CLUSTER_ALL.read_text(), node="node1")
    assert [(guest["vmid"], guest["template"]) for guest in node1] == [
        (101, True),
        (102, False),
        (200, False),
    ]
    assert node1[2]["name"] == "VM 200"


def test_lxc_list_with_vmid_strings_and_cpus():
    result = guests.parse(LXC_LIST.read_text())
    assert [(guest["vmid"], guest["status"]) for guest in result] == [
        (101, "stopped"),
        (105, "running"),
        (106, "running"),
    ]
    assert result[2]["cpus"] == 1 and result[2]["uptime_s"] == 919760
    assert result[2]["mem"] == 34304000 and result[2]["net_in"] == 94558593
    assert result[0]["template"] is True


def test_fractional_cpu_limit_stays_a_float():
    [guest] = guests.parse('[{"type": "lxc", "vmid": 7, "maxcpu": 0.5, "cpu": 0.5}]')
    assert guest["cpus"] == 0.5 and guest["cpu_percent"] == 50.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"vmid": 100}',
        '["qemu/100"]',
        '[{"type": "qemu", "name": "no-vmid"}]',
        '[{"type": "qemu", "vmid": "one hundred"}]',
        '[{"type": "lxc", "vmid": 101, "cpu": "busy"}]',
        '[{"type": "lxc", "vmid": 101, "mem": 1.5}]',
    ],
)
def test_malformed_resources_are_a_source_error(text):
    with pytest.raises(SourceError):
        guests.parse(text)


def test_without_pmxcfs_files_collect_runs_one_pvesh_call_for_this_node(tmp_path):
    machine = fake_host(tmp_path, PVE81_VMS.read_text())
    result, via = guests.collect(machine)
    assert via == "pvesh"
    assert [guest["vmid"] for guest in result] == [100, 101, 102]
    assert machine.spawned == 1
    log = (tmp_path / "pvesh.log").read_text()
    assert log == "get /cluster/resources --type vm --output-format json\n"


def test_fast_guest_and_storage_cost_does_not_grow_with_guests(tmp_path):
    spawned = {}
    for count in (3, 300):
        (tmp_path / str(count)).mkdir()
        machine = fake_host(tmp_path / str(count), many_guests(count))
        assert len(guests.collect(machine).value) == count
        assert len(storage.collect(machine).value) == 3
        spawned[count] = machine.spawned
    assert spawned == {3: 2, 300: 2}


def test_hanging_pvesh_is_a_source_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(guests, "TIMEOUT_S", 0.3)
    machine = fake_host(tmp_path, "[]", hang=True)
    with pytest.raises(SourceError, match="timed out after 0.3 s"):
        guests.collect(machine)
