"""The compact facts of one tier's latest sample: what the overview and the status rules read.

`compact(tier, data, errors, collected_at, received_at, previous)` turns a validated sample
(docs/protocol.md, "Data by tier") into a small JSON-ready dict, so a page can load the facts
of a thousand hosts without touching raw command output or guest lists. Pure: no ORM, no clock.

Format (the contract for the dashboard pages; times are RFC 3339 UTC strings ending in `Z`).
Every tier:

    {"collected_at": "2026-04-21T12:00:00Z",   # the agent's clock
     "received_at": "2026-04-21T12:00:01Z",    # the server's clock
     "errors": {"zfs_pools": "zpool status: timed out after 20 s"},   # source -> reason, may be {}
     ...the tier's sources, below}

A source that failed (absent from `data`) is absent here too; its reason is in `errors`
(cut to 200 characters). Only the keys listed here are copied: a key an agent adds later does
not grow the facts until a page needs it and it is added here.

fast:
- `host`: {"cpu_percent" (null if unknown), "load": [l1, l5, l15], "mem": {"total", "used",
  "available"}, "uptime_s", "rootfs": {"total", "used"}}
- `pools` (from source `zfs_pools`, without `raw`): the protocol's pool summaries, each
  {"name", "health", "size", "allocated", "free", "fragmentation_pct", "capacity_pct",
   "errors": {"read", "write", "checksum"}, "data_errors", "vdevs", "degraded_vdevs",
   "scan": {"function", "state", "start_time", "end_time", "errors", "progress_pct"},
   "last_scrub_end", "last_scrub_known"}
  where `last_scrub_end` is the end of the pool's last finished scrub as far as the server
  knows, and `last_scrub_known` says whether that is known:
    known, time    -> last scrubbed then
    known, null    -> never scrubbed
    not known      -> unknown (e.g. the first sample the server saw was during a resilver);
                      `last_scrub_end` is null
  ZFS reports only the latest scan, so after a resilver, during any scan or after a canceled
  scrub the sample no longer tells the last scrub: the previous facts' value is kept.
- `last_scrubs`: {pool name: last_scrub_end or null} for every pool whose last scrub is known.
  The memory behind the pool fields above: kept as it was when `zfs_pools` fails, so a
  timed-out `zpool status` during a resilver does not forget the last scrub. Pages read the
  pool fields, not this.
- `storage`: list of {"storage", "type", "enabled", "active", "shared", "content", "used",
  "total"} (used and total may be null)
- `guests` (instead of the guest list; the guest index holds the guests): {"total": all guests
  listed, templates included, "running": those with status "running"}

medium:
- `datasets` (without `raw`): the snapshotted datasets only (snapshot_count > 0; the others
  have nothing a snapshot rule could flag), each {"name", "snapshot_count", "oldest_snapshot",
  "newest_snapshot", "used", "usedbysnapshots"} (times and sizes may be null)
- `guest_configs` is dropped: the guest index holds them.
- `backups`: {"jobs": [{"id", "enabled", "schedule", "storage"}], "guests": [{"vmid",
  "covered", "newest", "newest_storage", "newest_size", "count", "verified", "last_task":
  {"end_time", "ok", "error"} or null, "type", "name", "template"}], "storage_errors": {}}
  (metrics/protection.py; type, name and template are null for a vmid that only has backups)
- `replication`: the protocol's job entries plus `enabled`

slow:
- `system`: {"pve_version", "kernel", "zfs_version", "pending_updates", "agent_version",
  "kernel_newest", "kernel_pinned", "zfs_kmod", "zfs_userland"} (each may be null; the last four
  only when the agent sent them)
- `disks`: one entry per disk, the protocol's keys plus `error`, `values_from` and
  `asleep_since` (metrics/disks.py: a disk in standby keeps its last known values)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from metrics.disks import compact_disks
from metrics.protection import compact_backups, compact_replication

ERROR_CHARS = 200

HOST_KEYS = ("cpu_percent", "load", "mem", "uptime_s", "rootfs")
POOL_KEYS = (
    "name",
    "health",
    "size",
    "allocated",
    "free",
    "fragmentation_pct",
    "capacity_pct",
    "data_errors",
    "vdevs",
    "degraded_vdevs",
)
POOL_ERROR_KEYS = ("read", "write", "checksum")
SCAN_KEYS = ("function", "state", "start_time", "end_time", "errors", "progress_pct")
STORAGE_KEYS = ("storage", "type", "enabled", "active", "shared", "content", "used", "total")
DATASET_KEYS = (
    "name",
    "snapshot_count",
    "oldest_snapshot",
    "newest_snapshot",
    "used",
    "usedbysnapshots",
)
SYSTEM_KEYS = ("pve_version", "kernel", "zfs_version", "pending_updates", "agent_version")
# Copied only when the agent sent them (older agents do not): the drift page and the
# reboot rule (metrics/drift.py) read them.
DRIFT_KEYS = ("kernel_newest", "kernel_pinned", "zfs_kmod", "zfs_userland")


def compact(
    tier: str,
    data: dict,
    errors: dict,
    collected_at: datetime,
    received_at: datetime,
    previous: dict | None,
) -> dict:
    """The compact facts of one sample of `tier` (format: module docstring).

    `previous` is the compact facts of the tier's previous latest sample, or None; it only
    supplies the last known scrub of each pool.
    """
    facts: dict[str, Any] = {
        "collected_at": rfc3339(collected_at),
        "received_at": rfc3339(received_at),
        "errors": {str(source): str(reason)[:ERROR_CHARS] for source, reason in errors.items()},
    }
    if tier == "fast":
        _fast(facts, data, previous)
    elif tier == "medium":
        if "datasets" in data:
            facts["datasets"] = [
                _pick(dataset, DATASET_KEYS)
                for dataset in data["datasets"]["datasets"]
                if dataset["snapshot_count"] > 0
            ]
        if "backups" in data:
            facts["backups"] = compact_backups(data["backups"])
        if "replication" in data:
            facts["replication"] = compact_replication(data["replication"])
    elif tier == "slow":
        if "system" in data:
            system = data["system"]
            facts["system"] = _pick(system, SYSTEM_KEYS)
            facts["system"].update((key, system[key]) for key in DRIFT_KEYS if key in system)
        if "disks" in data:
            previous_disks = (previous or {}).get("disks")
            facts["disks"] = compact_disks(data["disks"], previous_disks, facts["collected_at"])
    else:
        raise ValueError(f"unknown tier {tier!r}")
    return facts


def rfc3339(moment: datetime) -> str:
    """`2026-04-21T12:00:00Z`, with microseconds only when there are any."""
    moment = moment.astimezone(UTC)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(pattern)


def _fast(facts: dict[str, Any], data: dict, previous: dict | None) -> None:
    if "host" in data:
        host = _pick(data["host"], HOST_KEYS)
        host["mem"] = _pick(host["mem"], ("total", "used", "available"))
        host["rootfs"] = _pick(host["rootfs"], ("total", "used"))
        facts["host"] = host
    remembered: dict[str, str | None] = dict((previous or {}).get("last_scrubs") or {})
    if "zfs_pools" in data:
        facts["pools"] = [_pool(pool, remembered) for pool in data["zfs_pools"]["pools"]]
        facts["last_scrubs"] = {
            pool["name"]: pool["last_scrub_end"]
            for pool in facts["pools"]
            if pool["last_scrub_known"]
        }
    else:
        facts["last_scrubs"] = remembered
    if "storage" in data:
        facts["storage"] = [_pick(storage, STORAGE_KEYS) for storage in data["storage"]]
    if "guests" in data:
        guests = data["guests"]
        facts["guests"] = {
            "total": len(guests),
            "running": sum(1 for guest in guests if guest["status"] == "running"),
        }


def _pool(summary: dict, remembered: dict[str, str | None]) -> dict:
    pool = _pick(summary, POOL_KEYS)
    pool["errors"] = _pick(summary["errors"], POOL_ERROR_KEYS)
    pool["scan"] = _pick(summary["scan"], SCAN_KEYS)
    name = pool["name"]
    if summary.get("last_scrub_end") is not None:
        # The agent saw a finished scrub (a dRAID pool may report it beside a resilver).
        end, known = summary["last_scrub_end"], True
    elif name in remembered:
        # The latest scan is not a finished scrub, so the sample cannot tell: keep what we knew.
        end, known = remembered[name], True
    elif pool["scan"]["function"] is None:
        # ZFS keeps the latest scan forever; no scan at all means the pool was never scrubbed.
        end, known = None, True
    else:
        end, known = None, False
    pool["last_scrub_end"] = end
    pool["last_scrub_known"] = known
    return pool


def _pick(source: dict, keys: tuple[str, ...]) -> dict:
    return {key: source.get(key) for key in keys}
