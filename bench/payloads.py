"""Realistic protocol v1 samples for simulated hosts, built from the real captured outputs.

Every source is produced by the agent's own parsers run on the fixtures in
agent/tests/fixtures/ (provenance in its SOURCES.md), then varied per host so that each host
is one believable machine, the same in every source:

- zfs_pools: `rpool` and `tank`. `zpool status -j --json-flat-vdevs --json-int` + `zpool list
  -j --json-int` of a real OpenZFS 2.4 host: its pool tank (4 x raidz1 + special mirror) and
  its mirror zeta, renamed rpool (the boot pool of a Proxmox ZFS install). Allocation varies
  per host and is the sum of the host's datasets.
- datasets: what `zfs list` gives for that layout: rpool/ROOT/pve-1, rpool/var-lib-vz (storage
  `local`), rpool/data (storage `local-zfs`) with the containers' subvols, tank (storage `tank`)
  with the VMs' volumes, tank/backup (storage `backup`); daily and weekly snapshots on the
  disks of guests tagged prod or backup. Built as `zfs list -j` JSON (or `-Hp` text on the
  older host) and read by the agent's parser.
- storage: the entries of a real PVE 9 `/nodes/{node}/storage` answer, named as a ZFS
  install names them (local, local-zfs) plus tank and backup, sized from the datasets.
- guests / guest_configs: real guest configs (handmade/*.conf) cloned to each host's guests
  with their own vmids, names, IPs and MACs; the runtime entries (`/cluster/resources` shape)
  carry the config's memory and cores.
- system: `pveversion -v` of PVE 9.1.1 (ZFS 2.3.4), `apt list --upgradable` (181 entries).
- host: CPU, memory and load follow a day's rhythm plus slow drifts, smooth functions of the
  time, so that history sent as a backlog and live samples draw one continuous line.

Scenarios change what an operator should see: "healthy", "degraded" (a host still on PVE 8.4
with OpenZFS 2.2, text outputs: its tank is the dRAID pool mid resilver of the OpenZFS docs),
"full" (tank 92 % full), "stale-snapshots" (the snapshot job stopped 12 days ago), "updates"
(181 pending), "offline" (goes away, bench/fleet.py). Times in the recordings are moved to the
present, so a healthy host really is green.
"""

from __future__ import annotations

import copy
import json
import math
import random
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from agent.collectors import datasets, system
from bench.sources import (
    CONFIG_FIXTURES,
    guest_templates,
    parse_time,
    pools_json,
    pools_text,
    read,
    rfc3339,
    storage_templates,
    system_facts,
    zfs_list_json,
)

SCENARIOS = ("healthy", "degraded", "full", "stale-snapshots", "updates", "offline")
GUESTS_PER_HOST = 50
# scripts/demo: name, scenario, guests. Three sites, one host of each scenario.
DEMO_FLEET = (
    ("pve-fra-01", "healthy", 34),
    ("pve-fra-02", "degraded", 28),
    ("pve-fra-03", "full", 46),
    ("pve-ams-01", "stale-snapshots", 22),
    ("pve-ams-02", "updates", 31),
    ("pve-ams-03", "offline", 18),
    ("pve-lon-01", "healthy", 40),
    ("pve-lon-02", "healthy", 25),
    ("pve-lon-03", "healthy", 16),
)
# Names by the config a guest is cloned from, so that a name fits its size: small VMs, small
# containers, 2 GiB VMs, Windows VMs of 6 cores and 10 GiB, containers of 2 cores and 4 GiB.
ROLES = (
    ("nginx-proxy", "dns", "vpn", "ldap"),
    ("web", "redis", "monitor", "wiki"),
    ("app", "git", "mail", "grafana"),
    ("win-ad", "win-rds", "mssql", "win-build"),
    ("db", "files", "ci-runner", "search"),
)
TAGS: tuple[list[str], ...] = (["prod"], ["prod", "web"], ["dev"], [], ["backup"])
GiB = 2**30
# Space a pool's datasets can use per byte `zpool list` counts: mirror sizes are already
# usable (less the slop ZFS keeps); raidz1 of three disks and dRAID1 with four data disks
# pay for parity.
USABLE = {"rpool": 0.968, "tank": 2 / 3, "tank-draid": 0.8}
# Proxmox's zfspool and dir storages on those datasets: (storage, dataset, type, content)
STORAGES = (
    ("local", "rpool/var-lib-vz", "dir", ["backup", "import", "iso", "vztmpl"]),
    ("local-zfs", "rpool/data", "zfspool", ["images", "rootdir"]),
    ("tank", "tank", "zfspool", ["images", "rootdir"]),
    ("backup", "tank/backup", "dir", ["backup"]),
)
PARENTS = ("rpool", "rpool/ROOT", "rpool/data", "tank")  # hold only their children


@cache
def _waves(seed: str) -> tuple[tuple[float, float, float], ...]:
    """(amplitude, period s, phase) of a slow drift: mostly hours, a little of 40 minutes."""
    rng = random.Random(seed)
    return tuple(
        (rng.uniform(*size), period * rng.uniform(0.8, 1.2), rng.uniform(0, 2 * math.pi))
        for size, period in (((0.1, 0.25), 2400), ((0.5, 1.0), 3 * 3600), ((0.5, 1.0), 9 * 3600))
    )


def drift(seed: str, at: float) -> float:
    """A smooth value in [-1, 1] at unix time `at`: the same for backlog and live samples."""
    waves = _waves(seed)
    total = sum(a * math.sin(2 * math.pi * at / p + phase) for a, p, phase in waves)
    return total / sum(a for a, _, _ in waves)


class Host:
    """One simulated Proxmox host: its scenario, its fixed layout and the samples it sends."""

    def __init__(
        self, index: int, name: str, scenario: str = "healthy", guests: int = GUESTS_PER_HOST
    ) -> None:
        self.index, self.name, self.scenario = index, name, scenario
        self.random = random.Random(index)  # per-sample jitter
        layout = random.Random(f"{index} {name}")  # what the host is, fixed
        self.born = datetime.now(UTC).replace(microsecond=0)  # when the simulation began
        self.started = self.born - timedelta(days=layout.randint(3, 200))  # booted
        self.older = scenario == "degraded"  # PVE 8.4, OpenZFS 2.2: text outputs
        self.guests = [self._guest(i, layout) for i in range(guests)]
        self.disks = self._disks(layout)
        running = sum(g["memory"] for g in self.guests if g["running"])
        self.mem_total = next(
            gib * GiB for gib in (64, 128, 192, 256, 384, 512, 768) if gib * GiB > running * 1.3
        )
        self.space = self._space(layout)
        self.cpu_base = layout.uniform(12, 30)
        self._listed: tuple[date, dict] | None = None

    # --- what the host is ------------------------------------------------------------------

    def _guest(self, i: int, layout: random.Random) -> dict:
        _, configs = guest_templates()
        config = copy.deepcopy(configs[i % len(configs)])
        kind = CONFIG_FIXTURES[i % len(CONFIG_FIXTURES)][0]
        roles = ROLES[i % len(ROLES)]
        turn = i // len(ROLES) + self.index  # hosts start at different roles
        base = roles[turn % len(roles)]
        count = (i // len(ROLES)) // len(roles)
        name = base if count == 0 else f"{base}-{count + 1:02d}"
        vmid = 100 + i
        disks = []
        for n, disk in enumerate(config["disks"]):
            if disk["storage"] is None:  # a bind mount: no volume of Proxmox
                disks.append(disk)
                continue
            # containers on local-zfs (subvols), VMs' disks on tank (volumes)
            where = "local-zfs" if kind == "lxc" else "tank"
            prefix = "subvol" if kind == "lxc" else "vm"
            disks.append({**disk, "storage": where, "volume": f"{prefix}-{vmid}-disk-{n}"})
        config.update(
            vmid=vmid,
            name=name,
            type=kind,
            ips=[f"10.{self.index // 250 % 250}.{self.index % 250}.{10 + i}"],
            macs=[f"bc:24:11:{self.index // 256 % 256:02x}:{self.index % 256:02x}:{i:02x}"],
            tags=TAGS[i % len(TAGS)],
            disks=disks,
        )
        config["running"] = i % 7 != 6
        config["mem_share"] = layout.uniform(0.3, 0.8)
        config["cpu_share"] = layout.uniform(0.5, 25)
        return config

    def _disks(self, layout: random.Random) -> list[dict]:
        """The guests' volumes: dataset, type, bytes of data and of snapshots (0: none taken,
        only guests tagged prod or backup have a snapshot job)."""
        found = []
        for guest in self.guests:
            snapshots = bool({"prod", "backup"} & set(guest["tags"]))
            for disk in guest["disks"]:
                if "volume" not in disk:
                    continue
                parent = "rpool/data" if disk["storage"] == "local-zfs" else "tank"
                used = int(disk["size"] * layout.uniform(0.15, 0.7))
                found.append(
                    {
                        "name": f"{parent}/{disk['volume']}",
                        "type": "filesystem" if disk["volume"].startswith("subvol") else "volume",
                        "used": used,
                        "snapshots": int(used * layout.uniform(0.03, 0.15)) if snapshots else 0,
                    }
                )
        return found

    def _space(self, layout: random.Random) -> dict:
        """Datasets' used bytes and each pool's size and allocation, consistent."""
        template = {p["name"]: p for p in (pools_text() if self.older else pools_json())["pools"]}
        used = {
            "rpool/ROOT/pve-1": int(layout.uniform(5, 12) * GiB),
            "rpool/var-lib-vz": int(layout.uniform(40, 400) * GiB),
        }
        for disk in self.disks:
            used[disk["name"]] = disk["used"] + disk["snapshots"]
        used["rpool/data"] = sum(v for k, v in used.items() if k.startswith("rpool/data/"))
        used["rpool/ROOT"] = used["rpool/ROOT/pve-1"]
        used["rpool"] = used["rpool/ROOT"] + used["rpool/data"] + used["rpool/var-lib-vz"]
        tank = template["tank"]
        factor = USABLE["tank-draid" if self.older else "tank"]
        fill = {"full": 0.922}.get(self.scenario, layout.uniform(0.35, 0.7))
        if self.older:  # the recorded dRAID pool's own allocation
            fill = tank["allocated"] / tank["size"]
        used["tank"] = int(tank["size"] * fill * factor)
        disks = sum(v for k, v in used.items() if k.startswith("tank/"))
        used["tank/backup"] = used["tank"] - disks
        size = {"rpool": template["rpool"]["size"], "tank": tank["size"]}
        allocated = {
            "rpool": int(used["rpool"] / USABLE["rpool"]),
            "tank": tank["allocated"] if self.older else int(size["tank"] * fill),
        }
        usable = {"rpool": USABLE["rpool"], "tank": factor}
        available = {pool: int((size[pool] - allocated[pool]) * usable[pool]) for pool in size}
        fragmentation = {"rpool": float(layout.randint(5, 35))}
        if not self.older:  # the recorded dRAID pool keeps its own
            fragmentation["tank"] = float(layout.randint(3, 20))
        return {
            "used": used,
            "size": size,
            "allocated": allocated,
            "available": available,
            "fragmentation": fragmentation,
        }

    # --- samples ---------------------------------------------------------------------------

    def _pools(self, now: datetime) -> dict:
        found = copy.deepcopy(pools_text() if self.older else pools_json())
        # the monthly scrub job started on all pools at once; each takes as long as recorded
        started = self.born - timedelta(days=3 + self.index % 20, hours=self.index)
        for pool in found["pools"]:
            name = pool["name"]
            size, allocated = self.space["size"][name], self.space["allocated"][name]
            pool.update(
                size=size,
                allocated=allocated,
                free=size - allocated,
                capacity_pct=float(round(100 * allocated / size)),
                fragmentation_pct=self.space["fragmentation"].get(name, pool["fragmentation_pct"]),
            )
            scan = pool["scan"]
            if scan["state"] == "finished":
                took = parse_time(scan["end_time"]) - parse_time(scan["start_time"])
                scan["start_time"], scan["end_time"] = rfc3339(started), rfc3339(started + took)
                if scan["function"] == "scrub":
                    pool["last_scrub_end"] = scan["end_time"]
            elif scan["state"] == "scanning":  # started 40 minutes ago, not in 2020
                scan["start_time"] = rfc3339(now - timedelta(minutes=40))
        return found

    def _storage(self) -> list[dict]:
        templates = storage_templates()
        used, available = self.space["used"], self.space["available"]
        result = []
        for name, dataset, kind, content in STORAGES:
            free = available[dataset.split("/")[0]]
            result.append(
                {
                    **copy.deepcopy(templates[kind]),
                    "storage": name,
                    "content": content,
                    "used": used[dataset],
                    "total": used[dataset] + free,
                }
            )
        return result

    def _guest_runtime(self, guest: dict, at: float, uptime: int) -> dict:
        runtime, _ = guest_templates()
        item = copy.deepcopy(runtime)
        running = guest["running"]
        wave = drift(f"{self.name} {guest['vmid']}", at)
        item.update(
            vmid=guest["vmid"],
            name=guest["name"],
            type=guest["type"],
            status="running" if running else "stopped",
            uptime_s=uptime if running else 0,
            cpus=guest["cores"],
            maxmem=guest["memory"],
            cpu_percent=round(guest["cpu_share"] * (1 + 0.5 * wave), 1) if running else 0.0,
            mem=int(guest["memory"] * guest["mem_share"] * (1 + 0.15 * wave)) if running else 0,
            template=False,
        )
        return item

    def fast(self, now: datetime) -> dict:
        at = now.timestamp()
        uptime = int((now - self.started).total_seconds())
        guest_list = [self._guest_runtime(g, at, uptime) for g in self.guests]
        # a day's rhythm per host plus slow drifts and a little noise: smooth at any cadence
        # busiest around 14:00 UTC
        day = math.sin(2 * math.pi * (at / 86400 - 1 / 3) + self.index * 0.1)

        def cpu_at(moment: float) -> float:
            wave = drift(f"{self.name} cpu", moment)
            return max(1.0, self.cpu_base + 10 * day + 5 * wave)

        cpu = cpu_at(at) + max(-1.0, min(1.0, self.random.gauss(0, 0.5)))
        guests_mem = sum(g["mem"] for g in guest_list)
        # the host itself and the ARC beside its guests
        overhead = (6 + 0.04 * self.mem_total / GiB) * GiB * (1 + 0.1 * drift(self.name, at))
        used = min(int(guests_mem + overhead), self.mem_total - GiB)
        # load follows the CPU, later and smoother the longer its window
        load = [max(0.05, value / 8) for value in (cpu, cpu_at(at - 150), cpu_at(at - 450))]
        root = self.space["used"]["rpool/ROOT/pve-1"]
        return {
            "host": {
                "hostname": self.name,
                "kernel": system_facts(self.older)["kernel"],
                "cpu_percent": round(max(0.5, cpu), 1),
                "load": [round(value, 2) for value in load],
                "mem": {"total": self.mem_total, "used": used, "available": self.mem_total - used},
                "uptime_s": uptime,
                "rootfs": {"total": root + self.space["available"]["rpool"], "used": root},
            },
            "storage": self._storage(),
            "zfs_pools": self._pools(now),
            "guests": guest_list,
        }

    def _datasets(self, now: datetime) -> list[tuple[str, str, int, int, int, int, int]]:
        """(name, type, used, available, referenced, usedbysnapshots, creation) rows, snapshots
        as type "snapshot" rows: what `zfs list -t all` lists."""
        used, available = self.space["used"], self.space["available"]
        created = int((self.started - timedelta(days=400)).timestamp())
        snapshots = {d["name"]: d["snapshots"] for d in self.disks}
        # daily at midnight for a week, weekly for a month; the job stopped 12 days ago on
        # the stale host
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.scenario == "stale-snapshots":
            midnight -= timedelta(days=12)
        taken = [midnight - timedelta(days=d) for d in range(7)]
        taken += [midnight - timedelta(days=7 * w) for w in range(1, 5)]
        rows = []
        for name in sorted(used):
            pool = name.split("/")[0]
            kind = "volume" if "/vm-" in name else "filesystem"
            own = snapshots.get(name, 0)
            referenced = 98304 if name in PARENTS else used[name] - own
            rows.append((name, kind, used[name], available[pool], referenced, own, created))
            for moment in taken if own else ():
                label = "weekly" if moment < midnight - timedelta(days=6) else "daily"
                snapshot = f"{name}@autosnap_{moment:%Y-%m-%d_%H:%M:%S}_{label}"
                share = own // len(taken)
                rows.append(
                    (snapshot, "snapshot", share, 0, referenced, 0, int(moment.timestamp()))
                )
        return rows

    def medium(self, now: datetime) -> dict:
        return {"datasets": self._zfs_list(now.date()), "guest_configs": self._configs()}

    def _zfs_list(self, day: date) -> dict:
        """The datasets source; it changes once a day (snapshots at midnight), so it is built
        once a day: a fleet of thousands would otherwise spend its time here."""
        if self._listed is not None and self._listed[0] == day:
            return self._listed[1]
        rows = self._datasets(datetime.combine(day, time(12), UTC))
        if self.older:
            text = "".join(
                f"{n}\t{k}\t{u}\t{'-' if k == 'snapshot' else a}\t{r}\t"
                f"{'-' if k == 'snapshot' else s}\t{c}\n"
                for n, k, u, a, r, s, c in rows
            )
            found = datasets.parse_text(text)
        else:
            found = datasets.parse_json(json.dumps(zfs_list_json(rows)))
        self._listed = (day, found)
        return found

    def _configs(self) -> list[dict]:
        config_list = []
        for guest in self.guests:
            item = {
                k: v for k, v in guest.items() if k not in ("running", "mem_share", "cpu_share")
            }
            item["disks"] = [
                {k: v for k, v in disk.items() if k != "volume"} for disk in guest["disks"]
            ]
            config_list.append(item)
        return config_list

    def slow(self, now: datetime) -> dict:
        data = copy.deepcopy(system_facts(self.older))
        if self.scenario == "updates":
            data["pending_updates"] = system.parse_apt_upgradable(
                read("system/apt-list-upgradable-pve9-trixie-181-entries.txt")
            )
        return {"system": data}

    def data(self, tier: str, now: datetime) -> dict:
        return getattr(self, tier)(now)
