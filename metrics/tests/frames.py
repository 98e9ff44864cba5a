"""Valid protocol v1 frames for tests and benchmarks, shaped like a real agent's."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 4, 21, 12, 0, 0, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def join(host: str, token: str, protocol: Any = 1, **extra: Any) -> dict:
    return {
        "type": "join",
        "protocol": protocol,
        "host": host,
        "token": token,
        "agent_version": "0.1.0",
        **extra,
    }


HOST = {
    "hostname": "pve1",
    "kernel": "6.8.12-15-pve",
    "cpu_percent": 12.5,
    "load": [0.1, 0.07, 0.01],
    "mem": {"total": 67108864000, "used": 20000000000, "available": 47108864000},
    "uptime_s": 16072645.2,
    "rootfs": {"total": 100000000000, "used": 25000000000},
}

STORAGE = [
    {
        "storage": "local-zfs",
        "type": "zfspool",
        "enabled": True,
        "active": True,
        "shared": False,
        "content": ["images", "rootdir"],
        "used": 1000,
        "total": 10000,
    }
]

POOL = {
    "name": "rpool",
    "health": "ONLINE",
    "size": 1000000000000,
    "allocated": 400000000000,
    "free": 600000000000,
    "fragmentation_pct": 3.0,
    "capacity_pct": 40.0,
    "errors": {"read": 0, "write": 0, "checksum": 0},
    "data_errors": 0,
    "vdevs": 1,
    "degraded_vdevs": 0,
    "scan": {
        "function": "scrub",
        "state": "finished",
        "start_time": "2026-04-12T00:24:01Z",
        "end_time": "2026-04-12T00:40:11Z",
        "errors": 0,
        "progress_pct": None,
    },
    "last_scrub_end": "2026-04-12T00:40:11Z",
}

GUESTS = [
    {
        "vmid": 100,
        "type": "qemu",
        "name": "nginx-proxy",
        "status": "running",
        "uptime_s": 3600,
        "cpu_percent": 1.5,
        "cpus": 2,
        "mem": 1073741824,
        "maxmem": 2147483648,
        "disk_read": 10,
        "disk_write": 20,
        "net_in": 30,
        "net_out": 40,
    },
    {
        "vmid": 101,
        "type": "lxc",
        "name": "dns",
        "status": "stopped",
        "uptime_s": 0,
        "cpu_percent": 0.0,
        "cpus": 1,
        "mem": 0,
        "maxmem": 536870912,
        "disk_read": 0,
        "disk_write": 0,
        "net_in": 0,
        "net_out": 0,
    },
]

DATASETS = {
    "datasets": [
        {
            "name": "rpool/data",
            "type": "filesystem",
            "used": 1000,
            "available": 2000,
            "referenced": 96,
            "usedbysnapshots": 0,
            "snapshot_count": 2,
            "oldest_snapshot": "2026-04-01T00:00:00Z",
            "newest_snapshot": "2026-04-21T00:00:00Z",
        }
    ],
    "raw": {"output_version": {"command": "zfs list", "vers_major": 0, "vers_minor": 1}},
}

GUEST_CONFIGS = [
    {
        "vmid": 100,
        "type": "qemu",
        "name": "nginx-proxy",
        "cores": 2,
        "memory": 2147483648,
        "disks": [{"key": "scsi0", "storage": "local-zfs", "size": 34359738368}],
        "tags": ["web", "prod"],
        "onboot": True,
        "agent": True,
        "ips": ["10.0.4.17"],
        "macs": ["BC:24:11:AA:BB:CC"],
        "os": "l26",
    }
]

SYSTEM = {
    "pve_version": "8.4.14",
    "kernel": "6.8.12-15-pve",
    "zfs_version": "2.2.8-pve1",
    "pending_updates": 12,
    "agent_version": "0.1.0",
}

DATA: dict[str, dict[str, Any]] = {
    "fast": {
        "host": HOST,
        "storage": STORAGE,
        "zfs_pools": {"pools": [POOL], "raw": {}},
        "guests": GUESTS,
    },
    "medium": {"datasets": DATASETS, "guest_configs": GUEST_CONFIGS},
    "slow": {"system": SYSTEM},
}


def sample(
    tier: str = "fast",
    seq: int = 1,
    collected_at: datetime | str = BASE_TIME,
    data: dict | None = None,
    errors: dict | None = None,
) -> dict:
    when = collected_at if isinstance(collected_at, str) else rfc3339(collected_at)
    return {
        "type": "sample",
        "seq": seq,
        "tier": tier,
        "collected_at": when,
        "data": copy.deepcopy(DATA[tier]) if data is None else data,
        "errors": {} if errors is None else errors,
    }


def series(tier: str, start: datetime, count: int, step_s: int, first_seq: int = 1):
    return [
        sample(tier, first_seq + i, start + timedelta(seconds=i * step_s)) for i in range(count)
    ]
