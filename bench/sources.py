"""The real captured outputs behind bench/payloads.py, read once: pools, storages, guests,
system facts, each through the agent's own parsers (agent/collectors), as a Proxmox host would
report them. Fixtures in agent/tests/fixtures/ (provenance in its SOURCES.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from agent.collectors import guest_configs, guests, storage, system, zfs_pools

FIXTURES = Path(__file__).resolve().parent.parent / "agent" / "tests" / "fixtures"
FAKEHOST = Path(__file__).resolve().parent.parent / "agent" / "tests" / "fakehost"

# (kind, config); the kinds repeat every five guests, so guest i is of kind KINDS[i % 5]
CONFIG_FIXTURES = (
    ("qemu", "ansible-qemu-config-linux-cloudinit-agent.conf"),
    ("lxc", "ansible-lxc-config-static-ip.conf"),
    ("qemu", "api-qemu-config-pve8.1-tags.conf"),
    ("qemu", "ansible-qemu-config-windows.conf"),
    ("lxc", "api-lxc-config-dhcp-raw-lxc-keys.conf"),
)


def read(path: str) -> str:
    return (FIXTURES / path).read_text()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@cache
def pools_json() -> dict:
    """tank and rpool (the real zeta, renamed) from the JSON commands, rpool first.

    The capture was taken with -L, which leaves the disks without vdev_type and state; the
    agent's command (no -L) gives them, so healthy disks say ONLINE here as on a real host."""
    status = read("zfs/zpool-status-flat-int-PL-raidz1x4-special-mirror-removal.json")
    listed = read("zfs/zpool-list-j-int-v-raidz1x4-special-indirect.json")
    doc = json.loads(status.replace('"zeta"', '"rpool"'))
    _disks_online(doc)
    found = zfs_pools.parse_json(json.dumps(doc), listed.replace('"zeta"', '"rpool"'))
    found["pools"].sort(key=lambda pool: pool["name"] != "rpool")
    return found


def _disks_online(value) -> None:
    if isinstance(value, dict):
        if str(value.get("name", "")).startswith("/dev/") and "state" not in value:
            value.update(vdev_type="disk", state="ONLINE")
        for item in value.values():
            _disks_online(item)


@cache
def pools_text() -> dict:
    """rpool from the text twin of the JSON capture, tank the dRAID pool mid resilver."""
    mars = read("zfs/zpool-status-PLpvs-text-raidz1x4-special-removal.txt")
    rpool = mars[mars.index("  pool: zeta") :].replace("pool: zeta", "pool: rpool")
    rpool = rpool.replace("zeta ", "rpool")  # the same width: the columns stay aligned
    draid = read("zfs/zpool-status-text-draid-sequential-resilver-in-progress-docs.txt")
    status = f"{rpool}\n{draid}errors: No known data errors\n"
    listed = read("zfs/handmade-zpool-list-Hp-mars-from-json.txt").splitlines()[1]
    listed = listed.replace("zeta\t", "rpool\t") + "\n"
    listed += (FAKEHOST / "zpool-list-Hp-draid-tank.txt").read_text()
    found = zfs_pools.parse_text(status, listed)
    found["pools"].sort(key=lambda pool: pool["name"] != "rpool")
    return found


@cache
def storage_templates() -> dict[str, dict]:
    """The real entries by type: dir (local) and zfspool."""
    found = storage.parse(read("pve/api-node-storage-pve9-dir-zfspool-lvmthin.json"))
    return {item["type"]: item for item in found}


@cache
def guest_templates() -> tuple[dict, list[dict]]:
    runtime = guests.parse(
        read("pve/api-cluster-resources-type-vm-with-template-and-tags-pve8.1.json")
    )
    configs = [
        guest_configs.summarize(100 + i, kind, guest_configs.parse_config(
            (FIXTURES / "handmade" / name).read_text()))
        for i, (kind, name) in enumerate(CONFIG_FIXTURES)
    ]  # fmt: skip
    return runtime[0], configs


@cache
def system_facts(older: bool) -> dict:
    if older:  # the PVE 8.4 host: `pveversion`, `zfs version`
        pve = system.parse_pveversion(read("pve/pveversion-8.4.14.txt"))
        kernel = "6.8.12-15-pve"
        zfs = system.parse_zfs_version(read("zfs/zfs-version-proxmox-2.2.4-pve1.txt"))
    else:
        packages = system.parse_pveversion_verbose(read("pve/pveversion-v-pve9.1.1.txt"))
        pve, kernel, zfs = packages["pve-manager"], "6.17.2-1-pve", packages["zfsutils-linux"]
    return {
        "pve_version": pve,
        "kernel": kernel,
        "zfs_version": zfs,
        "pending_updates": 0,
        "agent_version": "0.1.0",
        # the drift keys of agents from the drift release on: each host runs its newest kernel
        # and the module of its tools (the PVE 8.4 host is behind on the drift page, no reason)
        "kernel_newest": kernel,
        "kernel_pinned": None,
        "zfs_kmod": zfs,
        "zfs_userland": zfs,
    }


def zfs_list_json(rows: list[tuple]) -> dict:
    """`zfs list -j --json-int -t all -o name,type,used,available,referenced,usedbysnapshots,
    creation` of the rows, in the shape of zfs/handmade-zfs-list-j-int-pve-rpool.json."""

    def prop(value) -> dict:
        return {"value": value, "source": {"type": "NONE", "data": "-"}}

    entries = {}
    for name, kind, used, available, referenced, by_snapshots, creation in rows:
        snapshot = kind == "snapshot"
        entry = {"name": name, "type": kind.upper(), "pool": name.split("/")[0], "createtxg": 1000}
        if snapshot:
            entry["dataset"], entry["snapshot_name"] = name.split("@")
        entry["properties"] = {
            "used": prop(used),
            "available": prop("-" if snapshot else available),
            "referenced": prop(referenced),
            "usedbysnapshots": prop("-" if snapshot else by_snapshots),
            "creation": prop(creation),
        }
        entries[name] = entry
    return {
        "output_version": {"command": "zfs list", "vers_major": 0, "vers_minor": 1},
        "datasets": entries,
    }
