"""Storage replication (pvesr) jobs of this node and their state, from two files.

Sources (PROTOCOL.md "medium: replication"), no process:

* /etc/pve/replication.cfg (`cat /etc/pve/replication.cfg`): `local: <vmid>-<n>` sections with
  `target`, `schedule` (default `*/15`), `disable`, `rate`, `source`.
* /var/lib/pve-manager/pve-replication-state.json (`cat` it): what pvesr last did, keyed
  `{vmid: {"local/<target>": {"last_sync", "last_try", "fail_count", "error", "duration"}}}`
  (PVE::ReplicationState; 0 means never).

A job is this node's when its guest's config lives here: pvesr runs a job on the node that
holds the guest (the `source` property only records where it last ran). No replication.cfg is
an empty list. Additive key: `enabled` (false for a job with `disable`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.collectors.pve import node_name, to_float, to_int
from agent.collectors.pve_files import iso, node_guests, parse_section_config
from agent.machine import Machine, NotApplicable, SourceError

SOURCE = "replication"
TIER = "medium"

CONFIG = "/etc/pve/replication.cfg"
STATE = "/var/lib/pve-manager/pve-replication-state.json"
DEFAULT_SCHEDULE = "*/15"

_JOB_ID = re.compile(r"^(\d+)-(\d+)$")


def parse_config(text: str) -> list[dict[str, Any]]:
    """The jobs of replication.cfg: `{"id", "vmid", "target", "schedule", "enabled", "source"}`."""
    jobs = []
    for kind, job_id, props in parse_section_config(text, "replication.cfg"):
        match = _JOB_ID.match(job_id)
        if kind != "local" or not match:
            continue  # the only type PVE has; anything else it would refuse as well
        if "target" not in props:
            raise SourceError(f"replication.cfg: job {job_id}: no target")
        jobs.append(
            {
                "id": f"{int(match.group(1))}-{int(match.group(2))}",
                "vmid": int(match.group(1)),
                "target": props["target"],
                "schedule": props.get("schedule", DEFAULT_SCHEDULE),
                "enabled": props.get("disable", "0").strip() != "1",
                "source": props.get("source"),
            }
        )
    return jobs


def parse_state(text: str) -> dict[str, Any]:
    """pve-replication-state.json; an empty file is an empty state, as PVE reads it."""
    if not text.strip():
        return {}
    try:
        state = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise SourceError(f"{STATE}: not JSON") from None
    if not isinstance(state, dict):
        raise SourceError(f"{STATE}: expected an object")
    return state


def summarize(jobs: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Protocol entries: each job with its state (PVE's target id is `local/<target>`)."""
    entries = []
    for job in jobs:
        guest_state = state.get(str(job["vmid"]))
        entry = guest_state.get(f"local/{job['target']}") if isinstance(guest_state, dict) else None
        entry = entry if isinstance(entry, dict) else {}
        where = f"replication {job['id']}"
        last_sync = to_int(entry.get("last_sync", 0), f"{where}: last_sync")
        last_try = to_int(entry.get("last_try", 0), f"{where}: last_try")
        duration = entry.get("duration")
        error = entry.get("error")
        entries.append(
            {
                "id": job["id"],
                "vmid": job["vmid"],
                "target": job["target"],
                "schedule": job["schedule"],
                "last_sync": iso(last_sync) if last_sync > 0 else None,
                "last_try": iso(last_try) if last_try > 0 else None,
                "fail_count": to_int(entry.get("fail_count", 0), f"{where}: fail_count"),
                "error": " ".join(str(error).split())[:1000] if error else None,
                "duration_s": None if duration is None else to_float(duration, f"{where}"),
                "enabled": job["enabled"],
            }
        )
    return sorted(entries, key=lambda entry: (entry["vmid"], entry["id"]))


def collect(machine: Machine) -> list[dict[str, Any]]:
    if not machine.exists("/etc/pve"):
        raise NotApplicable("/etc/pve is missing: not a Proxmox VE host")
    try:
        config = machine.read(CONFIG)
    except FileNotFoundError:
        return []
    node = node_name(machine)
    here = node_guests(machine, node)
    jobs = [job for job in parse_config(config) if job["vmid"] in here]
    if not jobs:
        return []
    try:
        state = parse_state(machine.read(STATE))
    except FileNotFoundError:
        state = {}
    return summarize(jobs, state)
