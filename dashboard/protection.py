"""Backups and replication on pages: the fleet page /backups/ and the host page's two sections.

Everything is read from the compact facts of the hosts' latest medium samples (HostSummary,
metrics/protection.py), one query for the whole fleet. States, worst first:

    failed     the last vzdump task that included the guest failed
    none       a job covers it and there is no backup of it
    old        its newest backup is older than PROXMON_STATUS_BACKUP_MAX_AGE_H
    uncovered  no backup job selects it (listed, never warned)
    ok
    template   a template (listed, never warned)
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.htmx import HtmxHttpRequest
from metrics.models import HostSummary
from metrics.protection import backup_state, guest_label, schedule_interval_s
from metrics.protocol import parse_time
from metrics.status import Thresholds

STATES = ("failed", "none", "old", "uncovered", "ok", "template")
RANK = {state: rank for rank, state in enumerate(STATES)}
STATE_WORDS = {
    "failed": "last backup failed",
    "none": "never backed up",
    "old": "too old",
    "uncovered": "not covered by any job",
    "ok": "ok",
    "template": "template",
}
# The fleet page's filters: ?show=... and ?older=<hours>
SHOWS = {
    "": "every guest",
    "problems": "warned about (failed, none, too old)",
    "failed": "last backup failed",
    "uncovered": "not covered by any job",
}
OLDER_CHOICES = [
    ("", "any age"),
    ("24", "1 day"),
    ("36", "36 h"),
    ("168", "7 days"),
    ("720", "30 days"),
]
MAX_ROWS = 2000


def _age_s(value: str | None, now: datetime) -> float | None:
    return None if value is None else (now - parse_time(value, "time")).total_seconds()


def guest_rows(backups: dict, now: datetime, max_age_h: float) -> list[dict]:
    """Every guest of one host's backups facts, with its state, worst first."""
    rows = []
    for guest in backups.get("guests") or []:
        state = backup_state(guest, now, max_age_h)
        task = guest.get("last_task") or None
        rows.append(
            {
                **guest,
                "label": guest_label(guest),
                "state": state,
                "state_words": STATE_WORDS[state],
                "warned": state in ("failed", "none", "old"),
                "age_s": _age_s(guest.get("newest"), now),
                "task": task,
            }
        )
    return sorted(rows, key=_worst_first)


def _worst_first(row: dict) -> tuple:
    # within a state: never backed up first, then the oldest newest backup
    age = row["age_s"]
    return (RANK[row["state"]], age is not None, -(age or 0), row.get("host", ""), row["vmid"])


def replication_rows(jobs: list[dict], now: datetime) -> list[dict]:
    """One host's replication jobs with a state: failed, stale, disabled, never, ok."""
    rows = []
    for job in jobs:
        interval = schedule_interval_s(job.get("schedule") or "")
        age = _age_s(job.get("last_sync"), now)
        if job.get("enabled") is False:
            state = "disabled"
        elif (job.get("fail_count") or 0) > 0:
            state = "failed"
        elif age is not None and interval is not None and age > 3 * interval:
            state = "stale"
        elif age is None:
            state = "never"
        else:
            state = "ok"
        rows.append({**job, "state": state, "interval_s": interval})
    return rows


def host_sections(facts: dict, now: datetime, thresholds: Thresholds) -> dict:
    """What the host page's Backups and Replication sections show."""
    medium = facts.get("medium") or {}
    backups = medium.get("backups")
    return {
        "backups_known": backups is not None,
        "backup_rows": guest_rows(backups or {}, now, thresholds.backup_max_age_h),
        "backup_jobs": (backups or {}).get("jobs") or [],
        "storage_errors": (backups or {}).get("storage_errors") or {},
        "replication_known": "replication" in medium,
        "replication_rows": replication_rows(medium.get("replication") or [], now),
        "backup_max_age_h": thresholds.backup_max_age_h,
        "medium_error": (medium.get("errors") or {}),
    }


def fleet_rows(now: datetime, max_age_h: float) -> tuple[list[dict], list[str]]:
    """Every guest of every host with backups facts, worst first; and the hosts without any."""
    rows: list[dict] = []
    unknown = []
    summaries = HostSummary.objects.select_related("host").only(
        "facts", "host__name", "host__status"
    )
    for summary in summaries:
        backups = (summary.facts.get("medium") or {}).get("backups")
        if backups is None:
            unknown.append(summary.host.name)
            continue
        for row in guest_rows(backups, now, max_age_h):
            row["host"] = summary.host.name
            row["host_status"] = summary.host.status
            rows.append(row)
    rows.sort(key=_worst_first)
    return rows, sorted(unknown)


def _older_hours(raw: str) -> float | None:
    try:
        hours = float(raw)
    except ValueError:
        return None
    return hours if 0 < hours < 1e6 else None


@require_GET
@login_required
def fleet(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    max_age_h = Thresholds.from_settings().backup_max_age_h
    show = request.GET.get("show", "")
    show = show if show in SHOWS else ""
    older = _older_hours(request.GET.get("older", ""))
    every, unknown = fleet_rows(now, max_age_h)
    rows = every
    if show == "problems":
        rows = [r for r in rows if r["warned"]]
    elif show in ("failed", "uncovered"):
        rows = [r for r in rows if r["state"] == show]
    if older is not None:
        rows = [r for r in rows if r["age_s"] is None or r["age_s"] > older * 3600]
    tally = Counter(row["state"] for row in every)
    context = {
        "rows": rows[:MAX_ROWS],
        "total": len(rows),
        "cut": len(rows) > MAX_ROWS,
        "max_rows": MAX_ROWS,
        "all_count": len(every),
        "tally": [(state, STATE_WORDS[state], tally[state]) for state in STATES if tally[state]],
        "unknown_hosts": unknown,
        "show": show,
        "shows": list(SHOWS.items()),
        "older": request.GET.get("older", "") if older is not None else "",
        "older_choices": OLDER_CHOICES,
        "max_age_h": max_age_h,
    }
    if request.htmx and request.htmx.target == "backups":
        return render(request, "dashboard/_backups.html", context)
    return render(request, "dashboard/backups.html", context)
