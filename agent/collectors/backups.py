"""Backups of this node's guests: jobs, the newest backup of each guest, and its last task.

Sources (PROTOCOL.md "medium: backups"):

* /etc/pve/jobs.cfg: the vzdump jobs (file read; `cat /etc/pve/jobs.cfg`). Pools named by a job
  are resolved from the `pool:` lines of /etc/pve/user.cfg (file read).
* /var/log/pve/tasks/index, index.1 and active: the finished tasks (file reads); the log of each
  vzdump task, /var/log/pve/tasks/<X>/<UPID>, says which guests it backed up and which failed.
  At most MAX_TASK_LOGS logs are read per cycle, newest first.
* The backup storages' content: `pvesh get /nodes/<node>/storage --content backup --enabled 1
  --output-format json` once, then `pvesh get /nodes/<node>/storage/<storage>/content --content
  backup --output-format json` per enabled, active storage of that list (one process each).

A storage whose listing fails (a PBS server that does not answer) does not fail the source: its
reason goes under the additive key `storage_errors` and the other storages are kept. No jobs.cfg
is an empty `jobs` list, not an error. Additive guest keys: `type`, `name`, `template` (null for
a vmid that only has backups here).
"""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.pve import load_json, node_name, pvesh_get, to_int, to_str
from agent.collectors.pve_files import (
    decode_upid,
    iso,
    node_guests,
    parse_section_config,
    split_list,
    vmid_list,
)
from agent.machine import Machine, NotApplicable, SourceError

SOURCE = "backups"
TIER = "medium"

CONTENT_TIMEOUT_S = 60.0  # a PBS listing asks the backup server over the network
MAX_TASK_LOGS = 64
MAX_LOG_BYTES = 8 * 1024 * 1024
TASK_DIR = "/var/log/pve/tasks"

_INDEX_LINE = re.compile(r"^(UPID:\S+) ([0-9A-Fa-f]{8}) (.*)$")
_ACTIVE_LINE = re.compile(r"^(\S+)\s(0|1)(?:\s([0-9A-Za-z]{8})(?:\s(\s*\S.*))?)?$")
_STARTED = re.compile(r"\bINFO: Starting Backup of VM (\d+) ")
_FINISHED = re.compile(r"\bINFO: Finished Backup of VM (\d+) ")
_FAILED = re.compile(r"\bERROR: Backup of VM (\d+) failed - (.*)$")
_JOB_FAILED = re.compile(r"\bERROR: Backup job failed - (.*)$")
_TASK_ERROR = re.compile(r"^TASK ERROR: (.*)$")
_MAX_ERROR_CHARS = 240


# --- jobs ------------------------------------------------------------------------------------


def parse_jobs(text: str) -> list[dict[str, Any]]:
    """The vzdump jobs of /etc/pve/jobs.cfg, sorted by id; other job types are skipped.

    Additive key `node`: the nodes a job is limited to (null: every node).
    """
    jobs = []
    for kind, job_id, props in parse_section_config(text, "jobs.cfg"):
        if kind != "vzdump":
            continue
        where = f"jobs.cfg: job {job_id}"
        enabled = props.get("enabled", "1").strip()
        if enabled not in ("0", "1"):
            raise SourceError(f"{where}: enabled: expected 0 or 1, got {enabled!r:.20}")
        jobs.append(
            {
                "id": job_id,
                "enabled": enabled == "1",
                "schedule": props.get("schedule"),
                "storage": props.get("storage"),
                "all": props.get("all", "0").strip() == "1",
                "vmids": vmid_list(props.get("vmid", ""), f"{where}: vmid"),
                "exclude": vmid_list(props.get("exclude", ""), f"{where}: exclude"),
                "pool": props.get("pool"),
                "node": split_list(props["node"]) if props.get("node") else None,
            }
        )
    return sorted(jobs, key=lambda job: job["id"])


def parse_pools(text: str) -> dict[str, set[int]]:
    """Pool members from /etc/pve/user.cfg: `pool:<name>:<comment>:<vmids>:<storages>:`."""
    pools: dict[str, set[int]] = {}
    for line in text.splitlines():
        if not line.startswith("pool:"):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        pools[parts[1]] = {int(v) for v in split_list(parts[3].replace(",", " ")) if v.isdigit()}
    return pools


def covering_jobs(
    jobs: list[dict[str, Any]], node: str, vmid: int, pools: dict[str, set[int]]
) -> list[str]:
    """The ids of the enabled jobs that back up `vmid` when it lives on `node`."""
    found = []
    for job in jobs:
        if not job["enabled"] or (job["node"] is not None and node not in job["node"]):
            continue
        if job["all"]:
            selected = vmid not in job["exclude"]
        elif job["pool"]:
            selected = vmid in pools.get(job["pool"], set())
        else:
            selected = vmid in job["vmids"]
        if selected:
            found.append(job["id"])
    return found


# --- tasks -----------------------------------------------------------------------------------


def parse_task_index(text: str) -> list[dict[str, Any]]:
    """Finished tasks of /var/log/pve/tasks/index (or index.1): `UPID ENDTIME_HEX STATUS`.

    Lines PVE itself would not read are skipped, as PVE skips them.
    """
    tasks = []
    for line in text.splitlines():
        match = _INDEX_LINE.match(line)
        task = decode_upid(match.group(1)) if match else None
        if match and task:
            tasks.append(dict(task, endtime=int(match.group(2), 16), status=match.group(3)))
    return tasks


def parse_task_active(text: str) -> list[dict[str, Any]]:
    """Tasks of /var/log/pve/tasks/active that have ended (running ones have no end time)."""
    tasks = []
    for line in text.splitlines():
        match = _ACTIVE_LINE.match(line)
        task = decode_upid(match.group(1)) if match else None
        if match and task and match.group(3):
            status = match.group(4) or "unknown"
            tasks.append(dict(task, endtime=int(match.group(3), 16), status=status))
    return tasks


def parse_vzdump_log(text: str) -> dict[int, dict[str, Any]]:
    """Per guest of a vzdump task log: `{vmid: {"ok": bool, "error": str | None}}`.

    "Finished Backup of VM N" is a success, "ERROR: Backup of VM N failed - reason" a failure;
    a guest that was started and neither finished nor failed (the job died) failed with the
    job's error, or "did not finish".
    """
    results: dict[int, dict[str, Any]] = {}
    job_error = None
    for line in text.splitlines():
        if match := _STARTED.search(line):
            results[int(match.group(1))] = {"ok": None, "error": None}
        elif match := _FINISHED.search(line):
            results[int(match.group(1))] = {"ok": True, "error": None}
        elif match := _FAILED.search(line):
            results[int(match.group(1))] = {"ok": False, "error": _short(match.group(2))}
        elif (match := _JOB_FAILED.search(line)) or (match := _TASK_ERROR.match(line)):
            job_error = job_error or _short(match.group(1))
    for result in results.values():
        if result["ok"] is None:
            result["ok"] = False
            result["error"] = job_error or "did not finish"
    return results


def status_ok(status: str) -> bool:
    """PVE's reading of a task's end status: OK and "WARNINGS: n" are successes."""
    return status == "OK" or re.fullmatch(r"WARNINGS: \d+", status) is not None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


# --- storage content -------------------------------------------------------------------------


def parse_content(text: str, storage: str) -> list[dict[str, Any]]:
    """Backups of `pvesh get /nodes/<node>/storage/<storage>/content --content backup`.

    Each: `{"vmid", "ctime", "size", "verified", "storage"}`; entries without a vmid (a file
    whose name is not a vzdump name) are skipped.
    """
    return summarize_content(load_json(text, f"pvesh get storage {storage} content"), storage)


def summarize_content(entries: Any, storage: str) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        raise SourceError(f"storage {storage} content: expected a list")
    backups = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SourceError(f"storage {storage} content: expected objects")
        if entry.get("content", "backup") != "backup" or entry.get("vmid") is None:
            continue
        where = f"storage {storage}: {to_str(entry.get('volid', '?'), 'volid')}"
        verification = entry.get("verification")
        state = verification.get("state") if isinstance(verification, dict) else None
        size = entry.get("size")
        backups.append(
            {
                "vmid": to_int(entry["vmid"], f"{where}: vmid"),
                "ctime": to_int(entry.get("ctime", 0), f"{where}: ctime"),
                "size": None if size is None else to_int(size, f"{where}: size"),
                "verified": state if state in ("ok", "failed") else None,
                "storage": storage,
            }
        )
    return backups


def backup_storages(entries: Any) -> list[str]:
    """Names of the enabled, active storages with `backup` content, from the storage list."""
    if not isinstance(entries, list):
        raise SourceError("backup storage list: expected a list")
    names = []
    for entry in entries:
        if not isinstance(entry, dict) or "storage" not in entry:
            raise SourceError("backup storage list: entry without storage")
        content = split_list(str(entry.get("content", "")).replace(",", " "))
        if (
            str(entry.get("enabled", 1)) == "1"
            and str(entry.get("active", 0)) == "1"
            and "backup" in content
        ):
            names.append(to_str(entry["storage"], "storage"))
    return sorted(names)


# --- putting it together ---------------------------------------------------------------------


def summarize(
    node: str,
    guests: dict[int, dict[str, Any]],
    jobs: list[dict[str, Any]],
    pools: dict[str, set[int]],
    backups: list[dict[str, Any]],
    last_tasks: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The protocol's `guests` list: every guest of the node and every vmid with backups."""
    newest: dict[int, dict[str, Any]] = {}
    counts: dict[int, int] = {}
    for backup in backups:
        vmid = backup["vmid"]
        counts[vmid] = counts.get(vmid, 0) + 1
        if vmid not in newest or backup["ctime"] > newest[vmid]["ctime"]:
            newest[vmid] = backup
    entries = []
    for vmid in sorted(set(guests) | set(newest)):
        guest = guests.get(vmid)
        best = newest.get(vmid)
        entries.append(
            {
                "vmid": vmid,
                "covered": bool(guest and covering_jobs(jobs, node, vmid, pools)),
                "newest": iso(best["ctime"]) if best else None,
                "newest_storage": best["storage"] if best else None,
                "newest_size": best["size"] if best else None,
                "count": counts.get(vmid, 0),
                "verified": best["verified"] if best else None,
                "last_task": last_tasks.get(vmid),
                "type": guest["type"] if guest else None,
                "name": guest["name"] if guest else None,
                "template": guest["template"] if guest else None,
            }
        )
    return entries


def _read_optional(machine: Machine, path: str) -> str:
    try:
        return machine.read(path)
    except FileNotFoundError:
        return ""


def _vzdump_tasks(machine: Machine, node: str) -> list[dict[str, Any]]:
    tasks: dict[str, dict[str, Any]] = {}
    for name in ("index.1", "index"):
        for task in parse_task_index(_read_optional(machine, f"{TASK_DIR}/{name}")):
            tasks[task["upid"]] = task
    for task in parse_task_active(_read_optional(machine, f"{TASK_DIR}/active")):
        tasks.setdefault(task["upid"], task)
    vzdump = [t for t in tasks.values() if t["type"] == "vzdump" and t["node"] == node]
    return sorted(vzdump, key=lambda task: (task["endtime"], task["starttime"]), reverse=True)


def _read_log(machine: Machine, task: dict[str, Any]) -> str | None:
    path = machine.file(f"{TASK_DIR}/{task['subdir']}/{task['upid']}")
    try:
        with open(path, "rb") as log:
            data = log.read(MAX_LOG_BYTES + 1)
    except OSError:
        return None
    # A huge log keeps its end, where the per-guest results and the task's status are.
    return data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")


def last_tasks(machine: Machine, node: str, wanted: set[int]) -> dict[int, dict[str, Any]]:
    """The newest vzdump task result per guest, reading at most MAX_TASK_LOGS task logs."""
    found: dict[int, dict[str, Any]] = {}
    for read, task in enumerate(_vzdump_tasks(machine, node)):
        if wanted <= set(found) or read >= MAX_TASK_LOGS:
            break
        text = _read_log(machine, task)
        results = parse_vzdump_log(text) if text is not None else {}
        if not results and task["id"].isdigit():
            # One guest's task with no per-guest line (lock timeout, log gone): its status.
            ok = status_ok(task["status"])
            results = {int(task["id"]): {"ok": ok, "error": None if ok else task["status"]}}
        for vmid, result in results.items():
            found.setdefault(vmid, {"end_time": iso(task["endtime"]), **result})
    return found


def collect(machine: Machine) -> dict[str, Any]:
    if not machine.exists("/etc/pve"):
        raise NotApplicable("/etc/pve is missing: not a Proxmox VE host")
    node = node_name(machine)
    guests = node_guests(machine, node)
    jobs = parse_jobs(_read_optional(machine, "/etc/pve/jobs.cfg"))
    pools = parse_pools(_read_optional(machine, "/etc/pve/user.cfg")) if jobs else {}
    listing = pvesh_get(machine, f"/nodes/{node}/storage", "--content", "backup", "--enabled", "1")
    backups: list[dict[str, Any]] = []
    storage_errors: dict[str, str] = {}
    for storage in backup_storages(listing):
        path = f"/nodes/{node}/storage/{storage}/content"
        try:
            entries = pvesh_get(machine, path, "--content", "backup", timeout=CONTENT_TIMEOUT_S)
            backups.extend(summarize_content(entries, storage))
        except (SourceError, NotApplicable) as exc:
            storage_errors[storage] = _short(str(exc))
    tasks = last_tasks(machine, node, set(guests) | {b["vmid"] for b in backups})
    result: dict[str, Any] = {
        "jobs": jobs,
        "guests": summarize(node, guests, jobs, pools, backups, tasks),
    }
    if storage_errors:
        result["storage_errors"] = storage_errors
    return result
