"""The alert state machine of one host: pure, so every boundary can be tested.

`evaluate(previous, observation, silenced, now, config)` takes the host's alerts as they were
(`AlertState` per key (rule, subject)), what holds now (alerts.rules.Observation) and returns
the new states, the transitions and the items of the host's message:

- A condition that appears is `pending` from then on (offline: from the last contact) and
  `firing` once it held for its rule's delay; one that goes away resolves (`resolved` if it
  fired, `cleared` without a word if it was still pending).
- Unknown (the rule's data is missing: a source failing, stale or absent data, the host
  offline): the alert keeps its state, whatever it is. Missing data never resolves anything.
- Hysteresis: a percentage alert (pool capacity, storage full) that is pending or firing holds
  while the value is above its threshold minus the margin, and keeps a critical level the same
  way.
- Flapping: when the condition appeared or disappeared `flap_changes` times within
  `flap_window_s`, the alert fires (if it did not yet), says "flapping" once, and is held as
  firing until the condition stays away for a whole window; no message per flap.
- Messages: a firing alert is announced once per episode, unless the host is silenced, the
  alert acknowledged, or the host offline (the offline alert owns the incident; held alerts
  are announced when that ends, if they still fire). Resolved alerts that were announced are
  announced resolved (not while silenced). A critical alert still firing, announced and
  neither acknowledged nor silenced, repeats after `repeat_s`. An acknowledgement lasts until
  the alert resolves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.rules import OFFLINE, Config, Key, Observation
from metrics.status import CRITICAL, RANK

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"


@dataclass
class AlertState:
    rule: str
    subject: str
    state: str
    level: str
    text: str
    since: datetime
    detail: str = ""
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified: bool = False
    last_sent_at: datetime | None = None
    acked_at: datetime | None = None
    changes: list[datetime] = field(default_factory=list)
    flapping: bool = False
    clear_since: datetime | None = None

    @property
    def key(self) -> Key:
        return (self.rule, self.subject)


@dataclass(frozen=True)
class Change:
    """A transition of one alert: pending, fired, resolved, cleared, escalated, level, flapping."""

    kind: str
    alert: AlertState


@dataclass(frozen=True)
class Item:
    """A line of the host's message: firing, escalated, repeat or resolved."""

    kind: str
    alert: AlertState


@dataclass
class Outcome:
    alerts: dict[Key, AlertState]
    changed: set[Key]
    changes: list[Change]
    items: list[Item]


def evaluate(
    previous: dict[Key, AlertState],
    observation: Observation,
    silenced: bool,
    now: datetime,
    config: Config,
) -> Outcome:
    window = timedelta(seconds=config.flap_window_s)
    alerts = {key: dataclasses.replace(a, changes=list(a.changes)) for key, a in previous.items()}
    changes: list[Change] = []

    def record(kind: str, alert: AlertState) -> None:
        changes.append(Change(kind, dataclasses.replace(alert)))

    for key in sorted(set(alerts) | set(observation.present)):
        alert = alerts.get(key)
        finding = observation.present.get(key)
        if alert is not None:
            alert.changes = [at for at in alert.changes if now - at < window]
        if finding is None and key[0] in observation.unknown:
            continue  # no data: neither holds nor resolves
        active = alert is not None and alert.state in (PENDING, FIRING)
        if active and key in observation.lingering:
            assert alert is not None  # active
            held = observation.lingering[key]
            if finding is None:
                finding = held
            elif alert.level == CRITICAL and held.level == CRITICAL:
                finding = dataclasses.replace(finding, level=CRITICAL)

        if finding is not None:
            if not active:
                alert = AlertState(
                    rule=key[0],
                    subject=key[1],
                    state=PENDING,
                    level=finding.level,
                    text=finding.text,
                    detail=finding.detail,
                    since=finding.since or now,
                    changes=[*(alert.changes if alert else []), now],
                )
                alerts[key] = alert
                record("pending", alert)
            else:
                assert alert is not None  # active
                if alert.clear_since is not None:  # back while held as firing
                    alert.clear_since = None
                    alert.changes.append(now)
                worse = RANK[finding.level] < RANK[alert.level]
                if (finding.level, finding.text, finding.detail) != (
                    alert.level,
                    alert.text,
                    alert.detail,
                ):
                    level_changed = finding.level != alert.level
                    alert.level, alert.text = finding.level, finding.text
                    alert.detail = finding.detail
                    if level_changed and alert.state == FIRING:
                        record("escalated" if worse else "level", alert)
            if alert.state == PENDING:
                flapping = len(alert.changes) >= config.flap_changes
                if flapping or (now - alert.since).total_seconds() >= config.delay(key[0]):
                    alert.state, alert.fired_at, alert.flapping = FIRING, now, flapping
                    record("fired", alert)
            continue

        # The condition is known to be gone.
        if not active:
            continue
        assert alert is not None  # active
        if alert.clear_since is None:
            alert.changes.append(now)
        if alert.state == PENDING:
            _resolve(alert, now)
            record("cleared", alert)
        elif alert.clear_since is None and (
            alert.flapping or len(alert.changes) >= config.flap_changes
        ):
            alert.flapping, alert.clear_since = True, now
            record("flapping", alert)
        elif alert.clear_since is None or now - alert.clear_since >= window:
            _resolve(alert, now)
            record("resolved", alert)

    items = _items(alerts, changes, observation, silenced, now, config)
    changed = {key for key, alert in alerts.items() if previous.get(key) != alert}
    return Outcome(alerts, changed, changes, items)


def _resolve(alert: AlertState, now: datetime) -> None:
    alert.state, alert.resolved_at = RESOLVED, now
    alert.flapping, alert.clear_since, alert.acked_at = False, None, None


def _items(
    alerts: dict[Key, AlertState],
    changes: list[Change],
    observation: Observation,
    silenced: bool,
    now: datetime,
    config: Config,
) -> list[Item]:
    kinds: dict[Key, set[str]] = {}
    for change in changes:
        kinds.setdefault(change.alert.key, set()).add(change.kind)
    items = []
    for key, alert in sorted(alerts.items()):
        happened = kinds.get(key, set())
        if alert.state == RESOLVED:
            if "resolved" in happened and alert.notified and not silenced:
                items.append(Item("resolved", alert))
            alert.notified = False
            continue
        if alert.state != FIRING:
            continue
        held = silenced or alert.acked_at is not None or (observation.offline and key[0] != OFFLINE)
        if held:
            continue
        if not alert.notified:
            kind = "firing"
        elif "escalated" in happened:
            kind = "escalated"
        elif (
            alert.level == CRITICAL
            and alert.last_sent_at is not None
            and (now - alert.last_sent_at).total_seconds() >= config.repeat_s
        ):
            kind = "repeat"
        else:
            continue
        alert.notified, alert.last_sent_at = True, now
        items.append(Item(kind, alert))
    # worst first: firing lines by level, then the resolved ones
    items.sort(key=lambda i: (i.kind == "resolved", RANK[i.alert.level], i.alert.key))
    return items
