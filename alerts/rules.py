"""What holds for a host now, keyed for alerts: the status rules of metrics.status, plus offline.

`observe(...)` runs metrics.status.evaluate (the one place where conditions are defined) and
returns an `Observation`: the conditions that hold, those that still hold with percentage
thresholds lowered by the hysteresis margin, and the rules whose data is missing (unknown:
their alerts keep their state, they never resolve for lack of data). Pure: no ORM.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from metrics.status import CRITICAL, WARNING, Thresholds, evaluate
from metrics.text import visible

OFFLINE = "offline"
# Every rule, the way it is named in settings (PROXMON_ALERT_<RULE>_DELAY_S) and docs/alerts.md.
RULES = (
    OFFLINE,
    "pool_health",
    "pool_data_errors",
    "pool_capacity",
    "pool_errors",
    "pool_degraded_devices",
    "scrub",
    "snapshot_newest",
    "snapshot_oldest",
    "updates",
    "reboot_needed",
    "storage_inactive",
    "storage_full",
    "pool_full_soon",
    "storage_full_soon",
    "backup_age",
    "backup_failed",
    "backup_storage",
    "replication_failed",
    "replication_stale",
    "disk_failed",
    "disk_sectors",
    "disk_wear",
    "disk_warning",
    "clock_skew",
    "source_failing",
    "stale",
)
# Where each rule's data comes from: (tier, key of the tier's compact facts).
SOURCES = {
    "pool_health": ("fast", "pools"),
    "pool_data_errors": ("fast", "pools"),
    "pool_capacity": ("fast", "pools"),
    "pool_errors": ("fast", "pools"),
    "pool_degraded_devices": ("fast", "pools"),
    "scrub": ("fast", "pools"),
    "storage_inactive": ("fast", "storage"),
    "storage_full": ("fast", "storage"),
    "snapshot_newest": ("medium", "datasets"),
    "snapshot_oldest": ("medium", "datasets"),
    "updates": ("slow", "system"),
    "reboot_needed": ("slow", "system"),
    "backup_age": ("medium", "backups"),
    "backup_failed": ("medium", "backups"),
    "backup_storage": ("medium", "backups"),
    "replication_failed": ("medium", "replication"),
    "replication_stale": ("medium", "replication"),
    "disk_failed": ("slow", "disks"),
    "disk_sectors": ("slow", "disks"),
    "disk_wear": ("slow", "disks"),
    "disk_warning": ("slow", "disks"),
    # written hourly by the background job, not by ingest: unknown in ingest's evaluation
    "pool_full_soon": ("forecast", "pools"),
    "storage_full_soon": ("forecast", "storage"),
}
HYSTERESIS_RULES = ("pool_capacity", "storage_full")
FORECAST_RULES = frozenset(("pool_full_soon", "storage_full_soon"))

Key = tuple[str, str]  # (rule, subject)


@dataclass(frozen=True)
class Config:
    delays: dict[str, float]
    hysteresis_pct: float = 2.0
    repeat_s: float = 86400.0
    flap_changes: int = 5
    flap_window_s: float = 1800.0

    @classmethod
    def from_settings(cls) -> Config:
        default = settings.PROXMON_ALERT_DELAY_S
        return cls(
            delays={
                rule: getattr(settings, f"PROXMON_ALERT_{rule.upper()}_DELAY_S", default)
                for rule in RULES
            },
            hysteresis_pct=settings.PROXMON_ALERT_HYSTERESIS_PCT,
            repeat_s=settings.PROXMON_ALERT_REPEAT_HOURS * 3600,
        )

    def delay(self, rule: str) -> float:
        return self.delays.get(rule, 600.0)


@dataclass(frozen=True)
class Finding:
    level: str  # warning or critical
    text: str
    since: datetime | None = None  # when the condition began, if known (offline: last seen)
    detail: str = ""


@dataclass(frozen=True)
class Observation:
    present: dict[Key, Finding] = field(default_factory=dict)
    lingering: dict[Key, Finding] = field(default_factory=dict)  # hold under lowered thresholds
    unknown: frozenset[str] = frozenset()  # rules whose data is missing
    offline: bool = False

    def signature(self) -> tuple:
        """What decides the evaluation, bar the clock: unchanged means nothing to do at ingest.

        Without the forecast rules: ingest never knows them (the sweep evaluates them), and a
        signature that counted them would differ at every sample after a sweep's evaluation."""
        return (
            tuple(
                sorted(
                    (key, f.level)
                    for key, f in self.present.items()
                    if key[0] not in FORECAST_RULES
                )
            ),
            tuple(sorted(self.lingering)),
            tuple(sorted(self.unknown - FORECAST_RULES)),
        )


def observe(
    status: str,
    last_seen_at: datetime | None,
    clock_skew_s: float | None,
    facts: dict,
    now: datetime,
    thresholds: Thresholds,
    hysteresis_pct: float,
    held: frozenset[Key] | None = None,
) -> Observation:
    """What holds for the host now. `held`: the keys of its pending or firing percentage alerts,
    the only ones whose lingering matters (None: all); with none, the second evaluation under
    lowered thresholds is skipped (it is half the cost of this at every sample)."""
    everything_but_offline = frozenset(RULES) - {OFFLINE}
    if status == "never_connected":
        return Observation(unknown=frozenset(RULES))
    if status != "online":
        text = "offline"
        finding = Finding(CRITICAL, text, since=last_seen_at)
        return Observation({(OFFLINE, ""): finding}, unknown=everything_but_offline, offline=True)
    verdict = evaluate(status, last_seen_at, clock_skew_s, facts, now, thresholds)
    present = {
        (r.rule, r.subject): Finding(
            r.level, visible(r.text), detail=_detail(r.rule, r.subject, facts)
        )
        for r in verdict.reasons
        if r.level in (WARNING, CRITICAL) and r.rule
    }
    lingering = {}
    if held is None or held:
        lowered = dataclasses.replace(
            thresholds,
            pool_warning_pct=thresholds.pool_warning_pct - hysteresis_pct,
            pool_critical_pct=thresholds.pool_critical_pct - hysteresis_pct,
            storage_full_pct=thresholds.storage_full_pct - hysteresis_pct,
        )
        lingering = {
            (r.rule, r.subject): Finding(r.level, visible(r.text))
            for r in evaluate(status, last_seen_at, clock_skew_s, facts, now, lowered).reasons
            if r.rule in HYSTERESIS_RULES and (held is None or (r.rule, r.subject) in held)
        }
    return Observation(present, lingering, _unknown(facts, "stale" in {k[0] for k in present}))


def _unknown(facts: dict, stale: bool) -> frozenset[str]:
    unknown = set()
    for rule, (tier, key) in SOURCES.items():
        tier_facts = facts.get(tier)
        if tier_facts is None or key not in tier_facts or (stale and tier == "fast"):
            unknown.add(rule)
    return frozenset(unknown)


def _detail(rule: str, subject: str, facts: dict) -> str:
    """A few words more for the message ("1 device not online")."""
    if rule != "pool_health":
        return ""
    for pool in (facts.get("fast") or {}).get("pools") or []:
        bad = pool.get("degraded_vdevs") or 0
        if pool.get("name") == subject and bad:
            return f"{bad} device{'' if bad == 1 else 's'} not online"
    return ""
