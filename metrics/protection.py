"""Backups and replication: compact facts and rules (DESIGN.md "Data protection").

Pure: no ORM, no clock. metrics.summary stores `compact_backups` / `compact_replication` in the
medium tier's facts; metrics.status turns `findings(...)` into warnings.

Rules (docs/data-protection.md), each finding keyed (rule, subject) for alerts:

- `backup_age` (subject: the vmid): a guest that a backup job covers, not a template, whose
  newest backup is older than `PROXMON_STATUS_BACKUP_MAX_AGE_H` ("vm 104 web-02: last backup
  3 days ago"), or that has none at all ("vm 104 web-02: never backed up").
- `backup_failed` (vmid): a covered guest, not a template, whose last vzdump task failed
  ("ct 101 db: last backup failed: <reason>").
- `backup_storage` (storage): a backup storage whose content could not be listed; its backups
  are missing from the newest-backup ages until it answers again.
- `replication_failed` (job id): an enabled job with a fail count above 0
  ("replication 100-0 to pve2: failed 3 times: <error>").
- `replication_stale` (job id): an enabled job whose last sync is older than 3 x its schedule's
  longest gap between runs ("replication 100-0 to pve2: last sync 2 h ago"). A schedule this
  server cannot read has no staleness rule (the fail count still counts).

Guests no job covers, and templates, are listed on the pages, never warned about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from metrics.protocol import parse_time

ERROR_CHARS = 80
WEEK_MIN = 7 * 24 * 60
STALE_FACTOR = 3

BACKUP_GUEST_KEYS = (
    "vmid",
    "covered",
    "newest",
    "newest_storage",
    "newest_size",
    "count",
    "verified",
    "last_task",
    "type",
    "name",
    "template",
)
BACKUP_JOB_KEYS = ("id", "enabled", "schedule", "storage")
REPLICATION_KEYS = (
    "id",
    "vmid",
    "target",
    "schedule",
    "last_sync",
    "last_try",
    "fail_count",
    "error",
    "duration_s",
    "enabled",
)
TYPE_WORDS = {"qemu": "vm", "lxc": "ct"}


# --- facts -------------------------------------------------------------------------------------


def compact_backups(backups: dict) -> dict:
    """{"jobs": [{"id", "enabled", "schedule", "storage"}], "guests": [...protocol guest keys,
    with the additive type, name, template (null when absent)], "storage_errors": {name: why}}."""
    guests = []
    for guest in backups.get("guests") or []:
        entry = {key: guest.get(key) for key in BACKUP_GUEST_KEYS}
        task = guest.get("last_task")
        if task is not None:
            error = task.get("error")
            entry["last_task"] = {
                "end_time": task.get("end_time"),
                "ok": task.get("ok"),
                "error": None if error is None else str(error)[:200],
            }
        guests.append(entry)
    return {
        "jobs": [{k: job.get(k) for k in BACKUP_JOB_KEYS} for job in backups.get("jobs") or []],
        "guests": guests,
        "storage_errors": {
            str(name): str(reason)[:200]
            for name, reason in (backups.get("storage_errors") or {}).items()
        },
    }


def compact_replication(jobs: list) -> list[dict]:
    """The protocol's replication entries, with the additive `enabled` (true when absent)."""
    entries = []
    for job in jobs:
        entry = {key: job.get(key) for key in REPLICATION_KEYS}
        entry["enabled"] = job.get("enabled") is not False
        if entry["error"] is not None:
            entry["error"] = str(entry["error"])[:200]
        entries.append(entry)
    return entries


# --- words -------------------------------------------------------------------------------------


def guest_label(guest: dict) -> str:
    """How reasons name a guest: "vm 104 web-02", "ct 101", "vmid 9000" (backups only)."""
    word = TYPE_WORDS.get(guest.get("type") or "", "vmid")
    name = guest.get("name")
    return f"{word} {guest['vmid']} {name}" if name else f"{word} {guest['vmid']}"


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1].rstrip() + "…"


def backup_state(guest: dict, now: datetime, max_age_h: float) -> str:
    """What a page says about a guest's backups, worst first:
    "failed", "old", "none" (covered, never backed up), "ok", or "uncovered" / "template"."""
    if guest.get("template"):
        return "template"
    if not guest.get("covered"):
        return "uncovered"
    task = guest.get("last_task")
    if task is not None and task.get("ok") is False:
        return "failed"
    if guest.get("newest") is None:
        return "none"
    newest = parse_time(guest["newest"], "newest")
    return "old" if (now - newest).total_seconds() > max_age_h * 3600 else "ok"


# --- rules -------------------------------------------------------------------------------------

Finding = tuple[str, str, str]  # (rule, subject, text)


def findings(
    medium: dict, now: datetime, max_age_h: float, age: Callable[[datetime, datetime], str]
) -> list[Finding]:
    """The warnings of the medium tier's backups and replication facts (module docstring).
    `age(now, then)` words a duration ("3 days")."""
    found: list[Finding] = []
    backups = medium.get("backups") or {}
    for guest in backups.get("guests") or []:
        state = backup_state(guest, now, max_age_h)
        subject, label = str(guest["vmid"]), guest_label(guest)
        if state == "failed":
            error = (guest["last_task"] or {}).get("error")
            text = f"{label}: last backup failed" + (f": {_cut(error)}" if error else "")
            found.append(("backup_failed", subject, text))
        if state == "none":
            found.append(("backup_age", subject, f"{label}: never backed up"))
        elif state in ("old", "failed") and guest.get("newest"):
            newest = parse_time(guest["newest"], "newest")
            if (now - newest).total_seconds() > max_age_h * 3600:
                text = f"{label}: last backup {age(now, newest)} ago"
                found.append(("backup_age", subject, text))
    for name, reason in sorted((backups.get("storage_errors") or {}).items()):
        text = f"backup storage {name} not listed: {_cut(reason)}"
        found.append(("backup_storage", name, text))
    for job in medium.get("replication") or []:
        if job.get("enabled") is False:
            continue
        label = f"replication {job['id']} to {job['target']}"
        failures = job.get("fail_count") or 0
        if failures > 0:
            times = "once" if failures == 1 else f"{failures} times"
            error = f": {_cut(job['error'])}" if job.get("error") else ""
            found.append(("replication_failed", job["id"], f"{label}: failed {times}{error}"))
        interval = schedule_interval_s(job.get("schedule") or "")
        if job.get("last_sync") and interval is not None:
            synced = parse_time(job["last_sync"], "last_sync")
            if (now - synced).total_seconds() > STALE_FACTOR * interval:
                text = f"{label}: last sync {age(now, synced)} ago"
                found.append(("replication_stale", job["id"], text))
    return found


# --- schedules ---------------------------------------------------------------------------------

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPECIAL = {
    "minutely": "*:*",
    "hourly": "*:00",
    "daily": "00:00",
    "weekly": "mon 00:00",
}
_LONG = {"monthly": 31 * 86400.0, "yearly": 366 * 86400.0, "annually": 366 * 86400.0}


def schedule_interval_s(schedule: str) -> float | None:
    """The longest gap, in seconds, between two runs of a PVE calendar event (`*/15`,
    `02:00`, `mon..fri 22:00`, `sat 03:30`, `*/2:00`, `hourly`, ...), over a week.

    None when the event has a date part or is not read here: then there is no staleness rule.
    """
    text = schedule.strip().lower()
    if not text:
        return None
    if text in _LONG:
        return _LONG[text]
    text = _SPECIAL.get(text, text)
    days: set[int] | None = None
    hours: set[int] | None = None
    minutes: set[int] | None = None
    for token in text.split():
        if re.search(r"[a-z]", token):
            if days is not None:
                return None
            days = _weekdays(token)
            if days is None:
                return None
        elif ":" in token:
            if hours is not None:
                return None
            parts = token.split(":")
            if len(parts) not in (2, 3):
                return None
            hours, minutes = _values(parts[0], 24), _values(parts[1], 60)
            if hours is None or minutes is None:
                return None
        elif "-" in token:
            return None  # a date: monthly or rarer, not judged here
        else:
            if hours is not None:
                return None
            hours, minutes = set(range(24)), _values(token, 60)
            if minutes is None:
                return None
    days = set(range(7)) if days is None else days
    hours = {0} if hours is None else hours
    minutes = {0} if minutes is None else minutes
    runs = sorted(d * 1440 + h * 60 + m for d in days for h in hours for m in minutes)
    if not runs:
        return None
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)] + [runs[0] + WEEK_MIN - runs[-1]]
    return max(gaps) * 60.0


def _weekdays(token: str) -> set[int] | None:
    found: set[int] = set()
    for part in token.split(","):
        first, _, last = part.partition("..")
        if first[:3] not in _DAYS or (last and last[:3] not in _DAYS):
            return None
        start, end = _DAYS.index(first[:3]), _DAYS.index((last or first)[:3])
        found.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return found


def _values(field: str, size: int) -> set[int] | None:
    """A time field of a calendar event: `*`, `5`, `1,3`, `8..17`, `*/15`, `0/30`, `8..17/2`."""
    found: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            return None
        step = int(step_text) if step_text else 1
        if step < 1:
            return None
        if base == "*":
            start, end = 0, size - 1
        elif ".." in base:
            low, _, high = base.partition("..")
            if not (low.isdigit() and high.isdigit()):
                return None
            start, end = int(low), int(high)
        elif base.isdigit():
            start = int(base)
            end = size - 1 if step_text else start
        else:
            return None
        if start >= size or end >= size or start > end:
            return None
        found.update(range(start, end + 1, step))
    return found
