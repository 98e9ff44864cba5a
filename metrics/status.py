"""The status light of a host and its reasons (DESIGN.md, "Status of a host").

`evaluate(status, last_seen_at, clock_skew_s, facts, now, thresholds)` reads the host's
connection status and the compact facts of its latest samples (metrics.summary) and returns a
`Verdict`. Pure: no ORM, and `now` is passed in.

Levels and their order for "worst first" (`Verdict.sort_key`, `LEVELS`):

    critical (red) < warning (yellow) < offline (grey) < ok (green)

A broken host that still reports is worse news than one that is gone, so red and yellow sort
above grey.

Grey: a host that is offline ("offline for 3 h") or never connected ("never connected") gets
that one reason and nothing else: its facts are old. The rules below still run over the facts
of an offline host as of when they arrived (`Verdict.as_of`, the fast tier's received_at, else
the last contact), and their reasons are kept apart in `Verdict.last_known`: pages show them
dimmed, "as of <time>", so a pool that was DEGRADED is still seen. They do not change the light.

Red: a pool whose health is not ONLINE ("tank DEGRADED"); permanent data errors, even in an
ONLINE pool ("tank: 1 permanent data error"); a pool at or above `pool_critical_pct` full.

Yellow, for an online host: a pool at or above `pool_warning_pct` and below critical; read,
write or checksum errors ("rpool: 6 checksum errors"); degraded devices in an ONLINE pool
("tank: 1 degraded device"; in a pool that is not ONLINE the health already says it); last
scrub older than `scrub_max_age_days` ("rpool last scrubbed 40 days ago") or never ("rpool
never scrubbed", not while a scrub runs, and not when the last scrub is unknown); a snapshotted
dataset whose newest snapshot is older than `snapshot_newest_max_age_days` or whose oldest is
older than `snapshot_oldest_max_age_days` (one reason per rule, naming the worst dataset); pending
updates ("12 updates pending"); an enabled storage that is inactive ("storage nfs-backup
inactive") or at or above `storage_full_pct` full ("storage tank 92 % full": a zfspool storage
is often named like its pool, and the pool's own reason must not read the same; disabled
storages are ignored); a pool or enabled storage whose trend of used bytes reaches full within
`full_within_days` ("tank full in ~12 days", "storage backup full in ~20 days"; the trend is
metrics/forecast.py's, handed in as facts["forecast"]); |clock skew| above
`clock_skew_s` ("clock 75 s behind" / "ahead"); a covered guest whose newest backup is older
than `backup_max_age_h`, or whose last backup failed, and a failing or stale replication job
(metrics/protection.py: "vm 104 web-02: last backup 3 days ago"); a source failing in the
latest sample of any tier ("zfs_pools failing: <reason>", cut to 80 characters); the newest
fast sample received more than `stale_after_s` ago ("no data for 5 min").
Disks (metrics/disks.py, standby disks by their last known values): SMART health FAILED is red
("sdb: SMART health FAILED"); reallocated, pending or uncorrectable sectors, NVMe 90 % used or
more, or an NVMe critical warning are yellow ("sdb: 8 reallocated sectors").
A kernel the host would boot that it does not run yet, unless `reboot_needed` is off ("reboot
needed for kernel 6.17.2-1-pve"; metrics/drift.py: the pinned kernel, else a newer installed one).
A running scrub or resilver and an INUSE spare are no reason by themselves.

Green: none of these; no reasons.

`Verdict.pool_levels` gives each pool the worst level of its own reasons (or ok): the colour of
the pool wherever a page shows it. `pool_fill_level` and `storage_fill_level` are the level of
the fill alone, for a bar; the fill reasons above come from them.

Reasons are sorted worst first; within a level, staleness and failing sources come first (the
rest may be out of date), then pools, storage, snapshots, backups and replication, updates and
clock. Percentages are rounded down, so a pool at 89.6 % reads "89 % full", never "90 %".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from metrics import disks, protection, snapshots
from metrics.drift import reboot_kernel
from metrics.forecast import days_left, words
from metrics.protocol import parse_time

CRITICAL, WARNING, OFFLINE, OK = "critical", "warning", "offline", "ok"
LEVELS = (CRITICAL, WARNING, OFFLINE, OK)  # worst first
RANK = {level: rank for rank, level in enumerate(LEVELS)}
TIERS = ("fast", "medium", "slow")
ERROR_CHARS = 80
DAY = 86400.0


@dataclass(frozen=True)
class Thresholds:
    """Where the rules trip. Each field is read from the Django setting PROXMON_STATUS_<FIELD>,
    e.g. PROXMON_STATUS_POOL_CRITICAL_PCT."""

    pool_critical_pct: float = 90
    pool_warning_pct: float = 80
    scrub_max_age_days: float = 35
    snapshot_newest_max_age_days: float = 7
    snapshot_oldest_max_age_days: float = 90
    storage_full_pct: float = 90
    clock_skew_s: float = 60
    stale_after_s: float = 120  # about three fast intervals of 30 s, plus transit
    full_within_days: float = 30
    reboot_needed: bool = True  # the "reboot needed for kernel X" rule on or off
    backup_max_age_h: float = 36

    @classmethod
    def from_settings(cls) -> Thresholds:
        if cls not in _from_settings:  # alerts read them for every sample: made once
            values: dict[str, Any] = {
                f.name: getattr(settings, f"PROXMON_STATUS_{f.name.upper()}", f.default)
                for f in dataclasses.fields(cls)
            }
            _from_settings[cls] = cls(**values)
        return _from_settings[cls]


_from_settings: dict[type, Thresholds] = {}  # and again when a setting changes:
setting_changed.connect(lambda **kwargs: _from_settings.clear(), weak=False)


@dataclass(frozen=True)
class Reason:
    """One finding. `rule` and `subject` name it stably for alerts (the pool, storage, dataset
    or source it is about; "" for the host), e.g. ("pool_health", "tank"); the text may change
    from one evaluation to the next, the key does not. Not compared: two reasons are equal when
    they read the same."""

    level: str
    text: str
    rule: str = field(default="", compare=False)
    subject: str = field(default="", compare=False)


@dataclass(frozen=True)
class Verdict:
    level: str
    reasons: list[Reason] = field(default_factory=list)
    pool_levels: dict[str, str] = field(default_factory=dict)  # pool name -> level
    # An offline host: the reasons its facts gave when they arrived, and when that was.
    last_known: list[Reason] = field(default_factory=list)
    as_of: datetime | None = None

    @property
    def sort_key(self) -> int:
        """0 for the worst light (critical) to 3 (ok); sort hosts by (sort_key, name)."""
        return RANK[self.level]


def evaluate(
    status: str,
    last_seen_at: datetime | None,
    clock_skew_s: float | None,
    facts: dict[str, dict],
    now: datetime,
    thresholds: Thresholds,
) -> Verdict:
    """The light of one host and its reasons, worst first (rules: module docstring)."""
    if status == "never_connected":
        return Verdict(OFFLINE, [Reason(OFFLINE, "never connected", "never_connected")])
    fast = facts.get("fast")
    if status != "online":
        text = "offline" if last_seen_at is None else f"offline for {_age(now, last_seen_at)}"
        offline = Reason(OFFLINE, text, "offline")
        as_of = parse_time(fast["received_at"], "received_at") if fast else last_seen_at
        if not facts or as_of is None:
            return Verdict(OFFLINE, [offline])
        last_known, pool_levels = _problems(clock_skew_s, facts, as_of, thresholds)
        return Verdict(OFFLINE, [offline], pool_levels, last_known, as_of)

    reasons = _staleness(fast, last_seen_at, now, thresholds)
    problems, pool_levels = _problems(clock_skew_s, facts, now, thresholds)
    reasons += problems
    reasons.sort(key=lambda reason: RANK[reason.level])  # stable: rule order within a level
    return Verdict(reasons[0].level if reasons else OK, reasons, pool_levels)


def pool_used_pct(pool: dict) -> float | None:
    """How full a pool is: ZFS's capacity, else allocated over size."""
    used = pool.get("capacity_pct")
    return _percent(pool.get("allocated"), pool.get("size")) if used is None else used


def pool_fill_level(pool: dict, t: Thresholds) -> str:
    """The level of a pool's fill alone: the colour of its capacity bar."""
    used = pool_used_pct(pool)
    if used is None or used < t.pool_warning_pct:
        return OK
    return CRITICAL if used >= t.pool_critical_pct else WARNING


def storage_fill_level(storage: dict, t: Thresholds) -> str:
    """The level of a storage's fill alone; a full storage is a warning, never critical."""
    used = _percent(storage.get("used"), storage.get("total"))
    return WARNING if used is not None and used >= t.storage_full_pct else OK


def _problems(
    clock_skew_s: float | None, facts: dict[str, dict], now: datetime, t: Thresholds
) -> tuple[list[Reason], dict[str, str]]:
    """Every rule but staleness over the facts, worst first; and each pool's level."""
    reasons: list[Reason] = []
    fast = facts.get("fast")
    reasons += _failing_sources(facts)
    pool_levels = {}
    for pool in (fast or {}).get("pools", []):
        found = _pool(pool, now, t)
        pool_levels[pool["name"]] = min((r.level for r in found), key=RANK.__getitem__, default=OK)
        reasons += found
    for storage in (fast or {}).get("storage", []):
        reasons += _storage(storage, t)
    reasons += _full_soon(fast or {}, facts.get("forecast") or {}, now, t)
    datasets = (facts.get("medium") or {}).get("datasets", [])
    ages = {
        "snapshot_newest": t.snapshot_newest_max_age_days,
        "snapshot_oldest": t.snapshot_oldest_max_age_days,
    }
    for rule, text in snapshots.findings(datasets, now, ages, _age, _days):
        reasons.append(Reason(WARNING, text, rule))
    medium = facts.get("medium") or {}
    for rule, subject, text in protection.findings(medium, now, t.backup_max_age_h, _age):
        reasons.append(Reason(WARNING, text, rule, subject))
    for level, rule, subject, text in disks.findings(facts.get("slow") or {}):
        reasons.append(Reason(level, text, rule, subject))
    system = (facts.get("slow") or {}).get("system") or {}
    updates = system.get("pending_updates") or 0
    if updates > 0:
        reasons.append(Reason(WARNING, f"{_count(updates, 'update')} pending", "updates"))
    kernel = reboot_kernel(system) if t.reboot_needed else None
    if kernel:
        reasons.append(Reason(WARNING, f"reboot needed for kernel {kernel}", "reboot_needed"))
    if clock_skew_s is not None and abs(clock_skew_s) > t.clock_skew_s:
        # skew = received - collected: positive means the host's clock runs behind ours
        side = "behind" if clock_skew_s > 0 else "ahead"
        reasons.append(
            Reason(WARNING, f"clock {_duration(abs(clock_skew_s))} {side}", "clock_skew")
        )
    reasons.sort(key=lambda reason: RANK[reason.level])  # stable: rule order within a level
    return reasons, pool_levels


def _staleness(
    fast: dict | None, last_seen_at: datetime | None, now: datetime, t: Thresholds
) -> list[Reason]:
    if fast is None:
        # Just joined: the first fast sample is seconds away, unless it never comes.
        if last_seen_at is None or (now - last_seen_at).total_seconds() > t.stale_after_s:
            return [Reason(WARNING, "no data yet", "stale")]
        return []
    received = parse_time(fast["received_at"], "received_at")
    if (now - received).total_seconds() > t.stale_after_s:
        return [Reason(WARNING, f"no data for {_age(now, received)}", "stale")]
    return []


def _failing_sources(facts: dict[str, dict]) -> list[Reason]:
    reasons = []
    tiers = [tier for tier in TIERS if tier in facts] + sorted(set(facts) - set(TIERS))
    for tier in tiers:
        for source, reason in sorted((facts[tier].get("errors") or {}).items()):
            text = " ".join(str(reason).split())
            if len(text) > ERROR_CHARS:
                text = _cut(text, ERROR_CHARS)
            reasons.append(Reason(WARNING, f"{source} failing: {text}", "source_failing", source))
    return reasons


def _pool(pool: dict, now: datetime, t: Thresholds) -> list[Reason]:
    name, health = pool["name"], pool["health"]
    reasons = []
    if health != "ONLINE":
        reasons.append(Reason(CRITICAL, f"{name} {health}", "pool_health", name))
    if (pool.get("data_errors") or 0) > 0:
        errors = _count(pool["data_errors"], "permanent data error")
        reasons.append(Reason(CRITICAL, f"{name}: {errors}", "pool_data_errors", name))
    level = pool_fill_level(pool, t)
    if level != OK:
        text = f"{name} {int(pool_used_pct(pool) or 0)} % full"  # known: level is not OK
        reasons.append(Reason(level, text, "pool_capacity", name))
    counts = pool.get("errors") or {}
    kinds = [(kind, counts.get(kind) or 0) for kind in ("read", "write", "checksum")]
    kinds = [(kind, n) for kind, n in kinds if n > 0]
    if kinds:
        words = ", ".join(f"{n} {kind}" for kind, n in kinds)
        plural = "error" if len(kinds) == 1 and kinds[0][1] == 1 else "errors"
        reasons.append(Reason(WARNING, f"{name}: {words} {plural}", "pool_errors", name))
    if health == "ONLINE" and (pool.get("degraded_vdevs") or 0) > 0:
        reasons.append(
            Reason(
                WARNING,
                f"{name}: {_count(pool['degraded_vdevs'], 'degraded device')}",
                "pool_degraded_devices",
                name,
            )
        )
    reasons += _scrub(pool, now, t)
    return reasons


def _scrub(pool: dict, now: datetime, t: Thresholds) -> list[Reason]:
    scan = pool.get("scan") or {}
    end = pool.get("last_scrub_end")
    # Facts built without summary.compact: a pool that was never scanned is known never scrubbed.
    known = pool.get("last_scrub_known", end is not None or scan.get("function") is None)
    if end is not None:
        ended = parse_time(end, "last_scrub_end")
        if (now - ended).total_seconds() > t.scrub_max_age_days * DAY:
            text = f"{pool['name']} last scrubbed {_age(now, ended)} ago"
            return [Reason(WARNING, text, "scrub", pool["name"])]
        return []
    scrubbing = scan.get("function") == "scrub" and scan.get("state") == "scanning"
    if known and not scrubbing:
        return [Reason(WARNING, f"{pool['name']} never scrubbed", "scrub", pool["name"])]
    return []


def _storage(storage: dict, t: Thresholds) -> list[Reason]:
    if not storage.get("enabled"):
        return []
    name = storage["storage"]
    if not storage.get("active"):
        return [Reason(WARNING, f"storage {name} inactive", "storage_inactive", name)]
    if storage_fill_level(storage, t) != OK:
        used = _percent(storage["used"], storage["total"])
        return [Reason(WARNING, f"storage {name} {int(used or 0)} % full", "storage_full", name)]
    return []


def _full_soon(fast: dict, forecast: dict, now: datetime, t: Thresholds) -> list[Reason]:
    """Pools and enabled storages of the latest sample whose growing trend reaches full
    within `full_within_days` (facts["forecast"], metrics.forecast; absent at ingest)."""
    reasons = []
    kinds = (
        ("pools", [p["name"] for p in fast.get("pools", [])], "", "pool_full_soon"),
        (
            "storage",
            [s["storage"] for s in fast.get("storage", []) if s.get("enabled")],
            "storage ",
            "storage_full_soon",
        ),
    )
    for kind, names, prefix, rule in kinds:
        trends = forecast.get(kind) or {}
        for name in names:
            found = trends.get(name) or {}
            days = days_left(found.get("full_at"), now) if found.get("state") == "growing" else None
            if days is not None and days <= t.full_within_days:
                reasons.append(Reason(WARNING, f"{prefix}{name} {words(days)}", rule, name))
    return reasons


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters ending in "…", at a word break if one is near the end."""
    cut = text[: limit - 1]
    head, space, _ = cut.rpartition(" ")
    if space and len(head) >= limit - 20:
        cut = head
    return cut.rstrip() + "…"


def _percent(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return used * 100 / total


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _age(now: datetime, then: datetime) -> str:
    return _duration((now - then).total_seconds())


def _duration(seconds: float) -> str:
    """Whole units, rounded down, each from 2 upwards so it never needs a singular."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 120 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * DAY:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // DAY)} days"


def _days(days: float) -> str:
    return _count(int(days), "day") if days == int(days) else f"{days} days"
