"""The snapshot-age rules: a host whose datasets' newest (or oldest) snapshot is too old.

Part of the status rules (metrics/status.py), which word and level what this finds. No Django.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from metrics.protocol import parse_time

DAY = 86400.0
# (key of a compact dataset, words, rule)
RULES = (
    ("newest_snapshot", "newest snapshot", "snapshot_newest"),
    ("oldest_snapshot", "oldest snapshot", "snapshot_oldest"),
)


def findings(
    datasets: list[dict],
    now: datetime,
    max_days: dict[str, float],
    age: Callable[[datetime, datetime], str],
    days: Callable[[float], str],
) -> list[tuple[str, str]]:
    """(rule, text) per rule whose snapshots are older than `max_days[rule]` in some dataset:
    one for the whole host, naming the worst dataset ("3 datasets: newest snapshot over 7 days
    old (tank/a: 30 days)")."""
    found = []
    for key, what, rule in RULES:
        limit = max_days[rule]
        late = _late(datasets, key, now, limit)
        if not late:
            continue
        taken, name = min(late)  # the worst: taken longest ago
        if len(late) == 1:
            found.append((rule, f"{name}: {what} {age(now, taken)} old"))
        else:
            text = f"{len(late)} datasets: {what} over {days(limit)} old"
            found.append((rule, f"{text} ({name}: {age(now, taken)})"))
    return found


def _late(
    datasets: list[dict], key: str, now: datetime, limit: float
) -> list[tuple[datetime, str]]:
    """(taken, dataset) of the snapshots of `key` more than `limit` days old.

    Protocol times (YYYY-MM-DDTHH:MM:SS, then a fraction and Z) sort as text to the second: a
    time whose second comes after the cut-off's is not late and is not parsed. This runs for
    every dataset of every host at every sweep and sample; parsing them all was a tenth of the
    GIL at 5,000 hosts, and not parsing them took a saturated server past 1,000 samples a
    second (docs/benchmarks.md, "Alerting at 5,000 hosts").
    """
    cutoff = datetime.fromtimestamp(now.timestamp() - limit * DAY, UTC)
    second = cutoff.strftime("%Y-%m-%dT%H:%M:%S")
    late = []
    for dataset in datasets:
        stamp = dataset.get(key)
        if not (dataset.get("snapshot_count", 0) > 0 and stamp):
            continue
        if isinstance(stamp, str) and len(stamp) >= 20 and stamp[:19] > second:
            continue
        taken = parse_time(stamp, key)
        if (now - taken).total_seconds() > limit * DAY:
            late.append((taken, dataset["name"]))
    return late
