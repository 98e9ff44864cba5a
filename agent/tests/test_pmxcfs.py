"""Guests and storages from pmxcfs's files (.rrd, .vmlist, storage.cfg), both key generations."""

import json
from pathlib import Path

import pytest

from agent.collectors import guests, pmxcfs, storage
from agent.machine import Machine, SourceError

PVE = Path(__file__).parent / "fixtures" / "pve"
RRD_PVE8 = PVE / "pmxcfs-rrd-pve8-4node-reconstructed.txt"
RRD_PVE9 = PVE / "pmxcfs-rrd-pve9-reconstructed.txt"
VMLIST = PVE / "pmxcfs-vmlist-pve8-9-lxc-1-qemu.json"
STORAGE_CFG_DEFAULT = PVE / "pmxcfs-storage-cfg-pve8-dir-lvmthin.cfg"
STORAGE_CFG_NODES = PVE / "pmxcfs-storage-cfg-cluster-zfspool-nodes-sparse.cfg"
CLUSTER_ALL = PVE / "api-cluster-resources-qemu-node-storage.json"
LXC_LIST = PVE / "api-lxc-list-running-and-stopped-template.json"
PVE9_QEMU = PVE / "api-qemu-list-pve9-template-and-running-pressure.json"
PVE9_STORAGE = PVE / "api-node-storage-pve9-dir-zfspool-lvmthin.json"


def vmlist(node_of: dict[int, tuple[str, str]]) -> str:
    """A .vmlist in pmxcfs's layout: {vmid: (node, type)}."""
    ids = ",\n".join(
        f'"{vmid}": {{ "node": "{node}", "type": "{kind}", "version": 1 }}'
        for vmid, (node, kind) in node_of.items()
    )
    return f'{{\n"version": 7,\n"ids": {{\n{ids}}}\n\n}}\n'


# The guests of the 4-node cluster behind RRD_PVE8 (LXC 105 and 106 from the node1 list).
CLUSTER_VMLIST = vmlist(
    {
        100: ("node2", "qemu"),
        101: ("node1", "qemu"),
        102: ("node1", "qemu"),
        200: ("node1", "qemu"),
        105: ("node1", "lxc"),
        106: ("node1", "lxc"),
    }
)


def test_rrd_dump_pve8_keys():
    dump = pmxcfs.parse_rrd(RRD_PVE8.read_text())
    assert sorted(dump.nodes) == ["node1", "node2", "node3", "node4"]
    assert sorted(dump.guests) == [100, 101, 102, 105, 106, 200]
    assert len(dump.storages) == 12 and dump.storages[("node1", "local-zfs")][1:] == [
        "955016175616",
        "14446702592",
    ]
    # `U` is unknown, as PVE's rrd_dump reads it
    assert dump.guests[101][6] is None and dump.guests[101][1] == "leap154"


def test_rrd_dump_pve9_keys_carry_more_columns():
    dump = pmxcfs.parse_rrd(RRD_PVE9.read_text())
    assert list(dump.nodes) == ["pve"] and len(dump.nodes["pve"]) == 22
    assert len(dump.guests[100]) == 22 and dump.guests[100][15] == "740003840"  # memhost
    assert sorted(dump.storages) == [("pve", "local"), ("pve", "local-lvm"), ("pve", "vmdata")]


def test_guests_from_pve8_dump_equal_what_pvesh_gave_on_that_cluster():
    """/cluster/resources is computed from this dump: reading it gives the same entries."""
    from_rrd = guests.from_pmxcfs(RRD_PVE8.read_text(), CLUSTER_VMLIST, "node1")
    resources = json.loads(CLUSTER_ALL.read_text())["data"]
    containers = [dict(e, node="node1") for e in json.loads(LXC_LIST.read_text())["data"]]
    running = [e for e in containers if e["status"] == "running"]
    assert from_rrd == guests.summarize(resources + running, "node1")
    assert [g["vmid"] for g in from_rrd] == [101, 102, 105, 106, 200]
    assert from_rrd[0]["template"] is True and from_rrd[0]["name"] == "leap154"
    assert from_rrd[2]["type"] == "lxc" and from_rrd[2]["net_in"] == 94560801


def test_guests_from_pve9_dump_equal_the_pve9_api():
    text = vmlist({100: ("pve", "qemu"), 101: ("pve", "qemu")})
    from_rrd = guests.from_pmxcfs(RRD_PVE9.read_text(), text, "pve")
    api = [dict(e, type="qemu") for e in json.loads(PVE9_QEMU.read_text())["data"]]
    assert from_rrd == guests.summarize(api, "pve")
    running = from_rrd[0]
    assert running["status"] == "running" and running["cpu_percent"] == 1.37
    assert running["uptime_s"] == 1081 and running["net_in"] == 4369
    assert from_rrd[1]["template"] is True and from_rrd[1]["mem"] == 0


def test_newest_generation_wins_when_a_cluster_broadcasts_both():
    text = (
        "pve2.3-vm/100:5:old:running:0:1:2:0.5:100:50:0:0:1:1:1:1\n"
        "pve-vm-9.0/100:6:new:running:0:1:2:0.25:100:60:0:0:2:2:2:2:60:0:0:0:0:0:0\n"
        "pve2.3-vm/100:7:old-again:running:0:1:2:0.5:100:50:0:0:1:1:1:1\n"
    )
    [guest] = guests.from_pmxcfs(text, vmlist({100: ("pve", "qemu")}), "pve")
    assert guest["name"] == "new" and guest["mem"] == 60


def test_an_unknown_newer_generation_is_read_by_its_known_columns():
    text = "pve-vm-10.1/100:6:later:running:0:1:2:0.25:100:60:0:0:2:2:2:2:60:0:0:0:0:0:0:9:9:9\n"
    [guest] = guests.from_pmxcfs(text, vmlist({100: ("pve", "lxc")}), "pve")
    assert guest["name"] == "later" and guest["disk_write"] == 2


def test_real_vmlist_lists_every_guest_with_node_and_type():
    listed = pmxcfs.parse_vmlist(VMLIST.read_text())
    assert sorted(listed) == [101, 102, 103, 104, 105, 106, 107, 108, 150, 201]
    assert listed[201] == {"node": "pve", "type": "qemu"}
    assert {entry["type"] for vmid, entry in listed.items() if vmid != 201} == {"lxc"}


def test_guests_without_a_status_line_are_unknown_with_their_config_name():
    """pvestatd stopped (pmxcfs dropped its lines): what /cluster/resources shows too."""
    configs = {102: {"hostname": "ns1"}, 201: {"name": "win", "template": "1"}}
    result = guests.from_pmxcfs("", VMLIST.read_text(), "pve", lambda vmid, kind: configs.get(vmid))
    assert len(result) == 10
    assert {g["status"] for g in result} == {"unknown"}
    by_vmid = {g["vmid"]: g for g in result}
    assert by_vmid[102]["name"] == "ns1" and by_vmid[101]["name"] == "CT101"
    assert by_vmid[201]["name"] == "win" and by_vmid[201]["template"] is True
    assert by_vmid[201]["mem"] == 0 and by_vmid[201]["cpu_percent"] == 0.0


def test_empty_vmlist_of_a_new_host():
    assert pmxcfs.parse_vmlist('{\n"version": 1\n\n}\n') == {}
    assert guests.from_pmxcfs(RRD_PVE9.read_text(), '{\n"version": 1\n\n}\n', "pve") == []


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '{"ids": []}', '{"ids": {"abc": {"node": "pve", "type": "qemu"}}}'],
)
def test_malformed_vmlist_is_a_source_error(text):
    with pytest.raises(SourceError, match="/etc/pve/.vmlist"):
        pmxcfs.parse_vmlist(text)


def test_malformed_rrd_lines_are_skipped_and_bad_numbers_named():
    dump = pmxcfs.parse_rrd("garbage\n:::\npve2.3-vm/abc:1:2:3\npve9-vm/1:1:2\npve2-node/x:1\n")
    assert (dump.nodes, dump.guests, dump.storages) == ({}, {}, {})
    text = "pve2.3-vm/100:lots:web:running:0:1:2:0.5:100:50:0:0:1:1:1:1\n"
    with pytest.raises(SourceError, match="guest 100: uptime: expected a number"):
        guests.from_pmxcfs(text, vmlist({100: ("pve", "qemu")}), "pve")
    for bad in ("nan", "1e999", "inf"):
        text = f"pve2.3-vm/100:1:web:running:0:1:2:0.5:100:{bad}:0:0:1:1:1:1\n"
        with pytest.raises(SourceError, match="guest 100: mem: expected a number"):
            guests.from_pmxcfs(text, vmlist({100: ("pve", "qemu")}), "pve")


def test_storage_cfg_of_a_default_pve8_install():
    sections = pmxcfs.parse_storage_cfg(STORAGE_CFG_DEFAULT.read_text())
    assert sections == [
        {"type": "dir", "storage": "local", "path": "/var/lib/vz", "content": "iso,vztmpl,backup"},
        {
            "type": "lvmthin",
            "storage": "local-lvm",
            "thinpool": "data",
            "vgname": "pve",
            "content": "rootdir,images",
        },
    ]


def test_storage_of_that_install_from_pmxcfs():
    # Its `pvesm status` (KiB): local 98497780 total, 5049764 used; local-lvm 1792008192, 311809425.
    rrd = (
        "pve2-node/hp850ip67:100:0:1745000000:0.1:12:0.01:0:1:1:0:0:1:1:0:0\n"
        f"pve2-storage/hp850ip67/local:1745000000:{98497780 * 1024}:{5049764 * 1024}\n"
        f"pve2-storage/hp850ip67/local-lvm:1745000000:{1792008192 * 1024}:{311809425 * 1024}\n"
    )
    local, lvm = storage.from_pmxcfs(STORAGE_CFG_DEFAULT.read_text(), rrd, "hp850ip67")
    assert local == {
        "storage": "local",
        "type": "dir",
        "enabled": True,
        "active": True,
        "shared": False,
        "content": ["backup", "iso", "vztmpl"],
        "used": 5049764 * 1024,
        "total": 98497780 * 1024,
    }
    assert lvm["content"] == ["images", "rootdir"] and lvm["used"] == 311809425 * 1024


def test_storage_from_pve9_dump_equals_the_pve9_api():
    api = json.loads(PVE9_STORAGE.read_text())["data"]
    cfg = "\n".join(f"{e['type']}: {e['storage']}\n\tcontent {e['content']}\n" for e in api)
    assert storage.from_pmxcfs(cfg, RRD_PVE9.read_text(), "pve") == storage.summarize(api)


def test_storage_restricted_to_other_nodes_is_not_enabled_here():
    text = STORAGE_CFG_NODES.read_text()
    [section] = pmxcfs.parse_storage_cfg(text)
    assert section["nodes"] == "still-fawn,pve" and section["sparse"] == "1"
    rrd = "pve2-storage/pve/local-zfs:1:1000:10\npve2-storage/other/local-zfs:1:1000:20\n"
    on_pve = {s["storage"]: s for s in storage.from_pmxcfs(text, rrd, "pve")}
    elsewhere = {s["storage"]: s for s in storage.from_pmxcfs(text, rrd, "other")}
    assert on_pve["local-zfs"]["enabled"] and on_pve["local-zfs"]["used"] == 10
    assert not elsewhere["local-zfs"]["enabled"] and elsewhere["local-zfs"]["used"] is None
    # `local` exists on every node even when storage.cfg does not define it (as in PVE)
    assert on_pve["local"]["type"] == "dir" and not on_pve["local"]["active"]


def test_storage_flags_defaults_and_disable_as_pve_reads_them():
    cfg = (
        "# a comment\n"
        "nfs: nas\n\tserver 192.0.2.1\n\texport /tank\n\tpath /mnt/pve/nas\n\n"
        "zfspool: tank\n\tpool tank\n\tdisable\n\n"
        "pbs: backup\n\tdatastore main\n\tserver 192.0.2.2\n\tcontent backup\n"
    )
    rrd = "pve2-storage/pve/nas:1:100:40\npve2-storage/pve/tank:1:100:50\n"
    result = {s["storage"]: s for s in storage.from_pmxcfs(cfg, rrd, "pve")}
    assert result["nas"]["shared"] is True and result["nas"]["content"] == ["images"]
    assert result["nas"]["active"] and result["nas"]["total"] == 100
    assert result["tank"]["enabled"] is False and result["tank"]["used"] is None
    assert result["tank"]["content"] == ["images", "rootdir"]
    assert result["backup"]["shared"] is True and not result["backup"]["active"]


def test_unreadable_pmxcfs_falls_back_to_pvesh_and_says_so(tmp_path):
    """A host whose /etc/pve/.rrd cannot be read: `pvesh` (the stand-in here) answers."""
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    (root / "etc/pve/.rrd").mkdir(parents=True)  # reading a folder fails like a dead FUSE
    (root / "etc/pve/.vmlist").write_text(vmlist({100: ("pve", "qemu")}))
    (root / "etc/pve/storage.cfg").write_text(STORAGE_CFG_DEFAULT.read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pvesh").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/pvesh.log\necho '[]'\n")
    (bin_dir / "pvesh").chmod(0o755)
    machine = Machine(root=root, path=str(bin_dir))
    assert guests.collect(machine) == ([], "pvesh")
    assert storage.collect(machine) == ([], "pvesh")
    assert machine.spawned == 2


def test_storage_falls_back_to_pvesh_when_pvestatd_is_silent(tmp_path):
    """No line of this node in .rrd: nobody measured the storages lately, `pvesh` does."""
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    (root / "etc/pve").mkdir(parents=True)
    (root / "etc/pve/.rrd").write_text("pve2-node/other:1:0:1:0:1:0:0:1:1:0:0:1:1:0:0\n")
    (root / "etc/pve/storage.cfg").write_text(STORAGE_CFG_DEFAULT.read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pvesh").write_text("#!/bin/sh\necho '[]'\n")
    (bin_dir / "pvesh").chmod(0o755)
    assert storage.collect(Machine(root=root, path=str(bin_dir))) == ([], "pvesh")
