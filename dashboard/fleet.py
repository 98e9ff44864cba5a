"""What the pages show, read from hosts and metrics (never from the sample history)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dashboard import cards as card_html
from hosts.models import Host
from metrics.models import HostSummary
from metrics.status import Thresholds, Verdict, evaluate

LEVELS = ("critical", "warning", "offline", "ok")
LEVEL_LABELS = {"critical": "critical", "warning": "warning", "offline": "offline", "ok": "ok"}


MAX_REASONS = 4  # on a card; the host page shows them all
# The Host columns cards(), the rules (metrics.status.evaluate), _card.html and the overview's
# filters read; anything else on card.host would be a query per host.
CARD_FIELDS = ("id", "name", "status", "last_seen_at", "clock_skew_s", "tags")


@dataclass
class Card:
    host: Host
    facts: dict
    verdict: Verdict
    fast: dict = field(init=False)
    # What the card shows, as a short digest: a page holding a card with this stamp need not
    # fetch it again (see stamp()). Set by cards(); `firing` (the bell) is set by the view.
    base_stamp: str = ""
    firing: int = 0
    html: str = ""  # set by cards.render()

    def __post_init__(self) -> None:
        self.fast = self.facts.get("fast") or {}

    @property
    def level(self) -> str:
        return self.verdict.level

    @property
    def stamp(self) -> str:
        return f"{self.base_stamp}.{self.firing}" if self.firing else self.base_stamp

    @property
    def bell_words(self) -> str:
        """The title of the bell a host with alerts firing has on its card."""
        return f"{self.firing} {'alert' if self.firing == 1 else 'alerts'} firing"

    @property
    def metrics(self) -> dict:
        return self.fast.get("host") or {}

    @property
    def pools(self) -> list[dict]:
        return self.fast.get("pools") or []

    @property
    def pool_chips(self) -> list[dict]:
        """Each pool with the level of its own reasons: the colour of its chip."""
        levels = self.verdict.pool_levels
        return [{**pool, "level": levels.get(pool.get("name", ""), "ok")} for pool in self.pools]

    @property
    def guests(self) -> dict:
        return self.fast.get("guests") or {}

    @property
    def reasons_shown(self) -> list:
        return self.verdict.reasons[:MAX_REASONS]

    @property
    def reasons_more(self) -> int:
        return max(0, len(self.verdict.reasons) - MAX_REASONS)

    @property
    def last_known_shown(self) -> list:
        return self.verdict.last_known[:MAX_REASONS]

    @property
    def last_known_more(self) -> int:
        return max(0, len(self.verdict.last_known) - MAX_REASONS)

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


# host id -> (inputs, facts, evaluated at, verdict, stamp). The rules cost ~0.3 ms a host
# (dataset snapshot times parsed one by one), the most of a live refresh at 1,000 hosts when only
# one host changed. A verdict is reused while the host's row and facts are the same objects and
# values, for at most REEVALUATE_S: what depends on the clock alone ("offline for 5 min",
# "no data for 3 min", a scrub or snapshot growing too old) is at most that much late.
REEVALUATE_S = 30
_verdicts: dict[int, tuple[tuple, dict, datetime, Verdict, str]] = {}


def _verdict(host: Host, facts: dict, now: datetime, t: Thresholds) -> tuple[Verdict, str]:
    inputs = (host.name, host.status, host.last_seen_at, host.clock_skew_s, t)
    cached = _verdicts.get(host.pk)
    if cached is not None and cached[0] == inputs and cached[1] is facts:
        age = (now - cached[2]).total_seconds()
        if 0 <= age < REEVALUATE_S:
            return cached[3], cached[4]
    verdict = evaluate(host.status, host.last_seen_at, host.clock_skew_s, facts, now, t)
    stamp = _stamp(host, facts, verdict)
    # A host seen for the first time is dated back by up to REEVALUATE_S, so that a thousand
    # hosts read at once are not all evaluated again in the same later request.
    at = now if cached is not None else now - timedelta(seconds=host.pk % REEVALUATE_S)
    _verdicts[host.pk] = (inputs, facts, at, verdict, stamp)
    return verdict, stamp


def _stamp(host: Host, facts: dict, verdict: Verdict) -> str:
    """A digest of everything a card shows but its bell: the host's row, its facts (by the
    time they arrived) and the verdict with its reasons' words."""
    fast = facts.get("fast") or {}
    words = [
        host.name,
        str(host.last_seen_at),
        str(fast.get("received_at")),
        str(fast.get("collected_at")),
        json.dumps(
            [fast.get("host"), fast.get("guests"), fast.get("pools"), facts.get("forecast")],
            default=str,
        ),
        verdict.level,
        str(verdict.as_of),
        *(f"{r.level}:{r.text}" for r in verdict.reasons),
        "|",
        *(f"{r.level}:{r.text}" for r in verdict.last_known),
        json.dumps(verdict.pool_levels, sort_keys=True),
    ]
    return hashlib.blake2b(chr(0).join(words).encode(), digest_size=8).hexdigest()


def cards(now: datetime, thresholds: Thresholds | None = None) -> list[Card]:
    thresholds = thresholds or Thresholds.from_settings()
    # Only what a card, its verdict and the filters read: a live refresh reads every host (for
    # the order and the fleet line), and each column more costs a conversion per host.
    hosts = Host.objects.only(*CARD_FIELDS).order_by()
    facts_by_host = _facts(dict(HostSummary.objects.values_list("host_id", "updated_at")))
    result = []
    seen = set()
    for host in hosts:
        facts = facts_by_host.get(host.pk, {})
        verdict, stamp = _verdict(host, facts, now, thresholds)
        result.append(Card(host, facts, verdict, base_stamp=stamp))
        seen.add(host.pk)
    gone = set(_verdicts) - seen
    for pk in gone:
        del _verdicts[pk]
    card_html.forget(gone)
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
