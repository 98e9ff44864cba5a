"""What the pages show, read from hosts and metrics (never from the sample history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hosts.models import Host
from metrics.models import HostSummary
from metrics.status import Thresholds, Verdict, evaluate

LEVELS = ("critical", "warning", "offline", "ok")
LEVEL_LABELS = {"critical": "critical", "warning": "warning", "offline": "offline", "ok": "ok"}


@dataclass
class Card:
    host: Host
    facts: dict
    verdict: Verdict
    fast: dict = field(init=False)

    def __post_init__(self) -> None:
        self.fast = self.facts.get("fast") or {}

    @property
    def level(self) -> str:
        return self.verdict.level

    @property
    def metrics(self) -> dict:
        return self.fast.get("host") or {}

    @property
    def pools(self) -> list[dict]:
        return self.fast.get("pools") or []

    @property
    def guests(self) -> dict:
        return self.fast.get("guests") or {}

    @property
    def html(self):
        from dashboard.cards import render

        return render(self)

    @property
    def mem_pct(self) -> float | None:
        mem = self.metrics.get("mem") or {}
        return 100.0 * mem["used"] / mem["total"] if mem.get("total") else None


# host id -> (HostSummary.updated_at, facts). Decoding the facts of a thousand hosts costs more
# than the rest of the overview; between two refreshes only the hosts that sent a sample
# changed, so each process keeps the decoded facts and re-reads only those.
_facts_cache: dict[int, tuple[datetime, dict]] = {}


def _facts(versions: dict[int, datetime]) -> dict[int, dict]:
    stale = [pk for pk, at in versions.items() if _facts_cache.get(pk, (None,))[0] != at]
    for start in range(0, len(stale), 500):
        rows = HostSummary.objects.filter(host_id__in=stale[start : start + 500])
        for pk, at, facts in rows.values_list("host_id", "updated_at", "facts"):
            _facts_cache[pk] = (at, facts)
    for pk in set(_facts_cache) - set(versions):
        del _facts_cache[pk]  # the host is gone
    return {pk: _facts_cache[pk][1] for pk in versions if pk in _facts_cache}


def cards(now: datetime, thresholds: Thresholds | None = None) -> list[Card]:
    thresholds = thresholds or Thresholds.from_settings()
    hosts = Host.objects.defer("token_hash", "connection_id", "server_id").order_by()
    facts_by_host = _facts(dict(HostSummary.objects.values_list("host_id", "updated_at")))
    result = []
    for host in hosts:
        facts = facts_by_host.get(host.pk, {})
        verdict = evaluate(
            host.status, host.last_seen_at, host.clock_skew_s, facts, now, thresholds
        )
        result.append(Card(host, facts, verdict))
    return result


def matches(card: Card, text: str) -> bool:
    """Host name or any reason, an offline host's last known ones included, contains the text
    (case-insensitive)."""
    if not text:
        return True
    text = text.lower()
    reasons = card.verdict.reasons + card.verdict.last_known
    return text in card.host.name or any(text in r.text.lower() for r in reasons)


def select(cards_: list[Card], status: str, text: str, sort: str) -> list[Card]:
    chosen = [c for c in cards_ if (status not in LEVELS or c.level == status) and matches(c, text)]
    if sort == "name":
        chosen.sort(key=lambda c: c.host.name)
    else:
        chosen.sort(key=lambda c: (c.verdict.sort_key, c.host.name))
    return chosen


def counts(cards_: list[Card]) -> dict[str, int]:
    tally = dict.fromkeys(LEVELS, 0)
    for card in cards_:
        tally[card.level] += 1
    return tally


def fleet_line(tally: dict[str, int]) -> str:
    """ "38 hosts: 1 critical, 4 warning, 2 offline" (the ok ones are the rest)."""
    total = sum(tally.values())
    parts = [
        f"{tally[level]} {level}" for level in ("critical", "warning", "offline") if tally[level]
    ]
    noun = "host" if total == 1 else "hosts"
    if not parts:
        return f"{total} {noun}: all ok" if total else "no hosts yet"
    return f"{total} {noun}: " + ", ".join(parts)
