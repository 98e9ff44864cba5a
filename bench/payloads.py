"""Realistic protocol v1 samples for simulated hosts, built from the real captured outputs.

Every source is produced by the agent's own parsers run on the fixtures in
agent/tests/fixtures/ (provenance in its SOURCES.md), then multiplied and varied per host:

- host: /proc/meminfo, /proc/loadavg and /proc/uptime captures; CPU varies per sample.
- zfs_pools: `zpool status -j --json-flat-vdevs --json-int` + `zpool list -j --json-int` of a
  real OpenZFS 2.4 host (pools tank and zeta, raw JSON kept) and a real single-disk pool.
- storage: a real PVE 9 `/nodes/{node}/storage` answer, repeated to 10 storages.
- guests / guest_configs: real `/cluster/resources` entries and guest configs, cloned to 50
  guests per host with their own vmids, names, IPs and MACs.
- datasets: the zfs list JSON of a Proxmox-style rpool with snapshots.
- system: `pveversion` and `apt list --upgradable` captures.

Scenarios change what an operator should see: "healthy", "degraded" (the dRAID pool mid
resilver of the OpenZFS docs, text output), "full" (a pool 92 % full), "stale-snapshots",
"updates" (181 pending), "offline" (sends once, then goes away). Times in the recordings are
moved to the present, so a healthy host really is green.
"""

from __future__ import annotations

import copy
import math
import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from agent.collectors import datasets, guest_configs, guests, host, storage, system, zfs_pools

FIXTURES = Path(__file__).resolve().parent.parent / "agent" / "tests" / "fixtures"
FAKEHOST = Path(__file__).resolve().parent.parent / "agent" / "tests" / "fakehost"
SCENARIOS = ("healthy", "degraded", "full", "stale-snapshots", "updates", "offline")
GUESTS_PER_HOST = 50
NAMES = (
    "nginx-proxy", "web", "db", "redis", "mail", "dns", "git", "ci-runner", "backup", "monitor",
    "ldap", "files", "vpn", "build", "app", "cache", "queue", "search", "wiki", "grafana",
)  # fmt: skip
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


@cache
def _pools_healthy() -> dict:
    mars = zfs_pools.parse_json(
        read("zfs/zpool-status-flat-int-PL-raidz1x4-special-mirror-removal.json"),
        read("zfs/zpool-list-j-int-v-raidz1x4-special-indirect.json"),
    )
    usb = zfs_pools.parse_status_json(read("zfs/zpool-status-flat-int-single-disk-usb-ssd.json"))
    for name, part in usb.items():
        mars["pools"].append({"name": name, "size": None, "allocated": None, "free": None,
                              "fragmentation_pct": None, "capacity_pct": None, **part})  # fmt: skip
    return mars


@cache
def _pools_degraded() -> dict:
    status = read("zfs/zpool-status-text-draid-sequential-resilver-in-progress-docs.txt")
    status += "errors: No known data errors\n"
    return zfs_pools.parse_text(status, (FAKEHOST / "zpool-list-Hp-draid-tank.txt").read_text())


@cache
def _storage() -> list[dict]:
    base = storage.parse(read("pve/api-node-storage-pve9-dir-zfspool-lvmthin.json"))
    result = []
    for i in range(10):
        item = copy.deepcopy(base[i % len(base)])
        if i >= len(base):
            item["storage"] = f"{item['storage']}-{i}"
        result.append(item)
    return result


@cache
def _guest_templates() -> tuple[list[dict], list[dict]]:
    runtime = guests.parse(
        read("pve/api-cluster-resources-type-vm-with-template-and-tags-pve8.1.json")
    )
    configs = [
        guest_configs.summarize(100 + i, kind, guest_configs.parse_config(
            (FIXTURES / "handmade" / name).read_text()))
        for i, (kind, name) in enumerate(CONFIG_FIXTURES)
    ]  # fmt: skip
    return runtime, configs


@cache
def _system() -> dict:
    return {
        "pve_version": system.parse_pveversion(read("pve/pveversion-8.4.14.txt")),
        "kernel": "6.8.12-15-pve",
        "zfs_version": system.parse_zfs_version(read("zfs/zfs-version-proxmox-2.2.4-pve1.txt")),
        "pending_updates": 0,
        "agent_version": "0.1.0",
    }


@cache
def _meminfo() -> dict:
    return host.parse_meminfo(read("proc/meminfo-kernel-6.12-64G.txt"))


class Host:
    """One simulated Proxmox host: its scenario and the samples it would send."""

    def __init__(self, index: int, name: str, scenario: str = "healthy") -> None:
        self.index, self.name, self.scenario = index, name, scenario
        self.random = random.Random(index)
        self.started = datetime.now(UTC) - timedelta(days=self.random.randint(3, 200))

    def _ip(self, guest: int) -> str:
        return f"10.{self.index // 250 % 250}.{self.index % 250}.{10 + guest}"

    def _mac(self, guest: int) -> str:
        return f"bc:24:11:{self.index // 256 % 256:02x}:{self.index % 256:02x}:{guest:02x}"

    def _guest_name(self, guest: int) -> str:
        base = NAMES[guest % len(NAMES)]
        return base if guest < len(NAMES) else f"{base}-{guest // len(NAMES) + 1:02d}"

    def fast(self, now: datetime) -> dict:
        mem = _meminfo()
        total = mem["MemTotal"] if "MemTotal" in mem else 64 * 2**30
        available = int(total * self.random.uniform(0.3, 0.7))
        pools = copy.deepcopy(
            _pools_degraded() if self.scenario == "degraded" else _pools_healthy()
        )
        scrubbed = rfc3339(now - timedelta(days=3 + self.index % 20))
        for pool in pools["pools"]:
            if pool["scan"]["state"] == "finished":
                pool["scan"]["end_time"] = scrubbed
                pool["scan"]["start_time"] = scrubbed
            if pool["scan"]["function"] == "scrub" or pool.get("last_scrub_end"):
                pool["last_scrub_end"] = scrubbed
        if self.scenario == "full":
            pool = pools["pools"][0]
            pool["allocated"] = int(pool["size"] * 0.92)
            pool["free"] = pool["size"] - pool["allocated"]
            pool["capacity_pct"] = 92.0
        runtime, _ = _guest_templates()
        guest_list = []
        for i in range(GUESTS_PER_HOST):
            item = copy.deepcopy(runtime[i % len(runtime)])
            running = i % 7 != 6
            item.update(
                vmid=100 + i,
                name=self._guest_name(i),
                type="lxc" if i % 5 in (1, 4) else "qemu",
                status="running" if running else "stopped",
                uptime_s=int((now - self.started).total_seconds()) if running else 0,
                cpu_percent=round(self.random.uniform(0, 30), 1) if running else 0.0,
                mem=int(item["maxmem"] * self.random.uniform(0.2, 0.9)) if running else 0,
            )
            guest_list.append(item)
        # a day's rhythm per host, plus noise, so the charts look like a real machine's
        phase = self.index * 0.7
        day = math.sin(2 * math.pi * now.timestamp() / 86400 + phase)
        cpu = max(1.0, 22 + 14 * day + self.random.gauss(0, 4))
        available = int(total * (0.55 - 0.12 * day + self.random.gauss(0, 0.01)))
        load = max(0.05, cpu / 12)
        return {
            "host": {
                "hostname": self.name,
                "kernel": "6.8.12-15-pve",
                "cpu_percent": round(cpu, 1),
                "load": [round(load * f, 2) for f in (1.0, 0.9, 0.8)],
                "mem": {"total": total, "used": total - available, "available": available},
                "uptime_s": int((now - self.started).total_seconds()),
                "rootfs": {"total": 100 * 2**30, "used": 23 * 2**30},
            },
            "storage": _storage(),
            "zfs_pools": pools,
            "guests": guest_list,
        }

    def medium(self, now: datetime) -> dict:
        found = copy.deepcopy(
            datasets.parse_json(read("zfs/handmade-zfs-list-j-int-pve-rpool.json"))
        )
        age = timedelta(days=12) if self.scenario == "stale-snapshots" else timedelta(hours=1)
        for item in found["datasets"]:
            if item["snapshot_count"]:
                item["newest_snapshot"] = rfc3339(now - age)
                item["oldest_snapshot"] = rfc3339(now - age - timedelta(days=30))
        _, configs = _guest_templates()
        config_list = []
        for i in range(GUESTS_PER_HOST):
            item = copy.deepcopy(configs[i % len(configs)])
            item.update(
                vmid=100 + i,
                name=self._guest_name(i),
                type="lxc" if i % 5 in (1, 4) else "qemu",
                ips=[self._ip(i)],
                macs=[self._mac(i)],
                tags=[["prod"], ["prod", "web"], ["dev"], [], ["backup"]][i % 5],
            )
            config_list.append(item)
        return {"datasets": found, "guest_configs": config_list}

    def slow(self, now: datetime) -> dict:
        data = copy.deepcopy(_system())
        if self.scenario == "updates":
            data["pending_updates"] = system.parse_apt_upgradable(
                read("system/apt-list-upgradable-pve9-trixie-181-entries.txt")
            )
        return {"system": data}

    def data(self, tier: str, now: datetime) -> dict:
        return getattr(self, tier)(now)
