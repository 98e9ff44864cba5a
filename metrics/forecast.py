"""When will a pool or a storage be full? A straight line through its recent history.

`trend(points, capacity)` is pure: `points` are (epoch seconds, bytes used), `capacity` the
bytes it holds now. The line is an ordinary least-squares fit of used/capacity against time
over the points given (the background job gives the hourly averages of the last
WINDOW_DAYS = 30 days, metrics.rollups). It says something only when that is honest:

- "too_short": the points span less than MIN_SPAN_H = 24 hours (or fewer than MIN_POINTS):
  a day's rhythm (backups at night, logs rotated) would pass for a trend.
- "flat": the line changes less than FLAT_PCT_PER_YEAR = 1 % of the capacity a year.
- "noisy": the line explains less than MIN_R2 = 50 % of the variation (R^2 < 0.5): used space
  jumps up and down (a backup storage pruned every night, a pool with big deletes), and any
  date would be a guess.
- "shrinking": the line goes down.
- "growing": full (used = capacity) in (capacity - latest used) / slope, counted from the
  newest point; the newest value rather than the line's, so space freed yesterday counts.

The status rule "will be full within N days" (metrics.status, PROXMON_STATUS_FULL_WITHIN_DAYS)
reads only "growing" forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = 86400.0
WINDOW_DAYS = 30
MIN_SPAN_H = 24
MIN_POINTS = 12
FLAT_PCT_PER_YEAR = 1.0
MIN_R2 = 0.5


@dataclass(frozen=True)
class Trend:
    state: str  # growing | shrinking | flat | noisy | too_short
    bytes_per_day: float | None = None
    full_at: datetime | None = None  # growing only
    r2: float | None = None

    def as_json(self) -> dict:
        return {
            "state": self.state,
            "bytes_per_day": None if self.bytes_per_day is None else round(self.bytes_per_day),
            "full_at": self.full_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.full_at else None,
            "r2": None if self.r2 is None else round(self.r2, 3),
        }


def trend(points: list[tuple[float, float]], capacity: float | None) -> Trend:
    """The trend of `points` (epoch seconds, bytes used) towards `capacity` bytes."""
    points = sorted(p for p in points if p[1] is not None)
    if not capacity or capacity <= 0 or len(points) < MIN_POINTS:
        return Trend("too_short")
    t0, t_last = points[0][0], points[-1][0]
    if t_last - t0 < MIN_SPAN_H * 3600:
        return Trend("too_short")
    # days since the first point, and fraction of the capacity: small numbers, no cancellation
    xs = [(t - t0) / DAY for t, _ in points]
    ys = [used / capacity for _, used in points]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - mean_y) ** 2 for y in ys)
    slope = sxy / sxx  # fraction of the capacity per day
    per_day = slope * capacity
    if abs(slope) * 365 * 100 < FLAT_PCT_PER_YEAR:
        return Trend("flat", per_day)
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 1.0
    if r2 < MIN_R2:
        return Trend("noisy", per_day, r2=r2)
    if slope < 0:
        return Trend("shrinking", per_day, r2=r2)
    remaining = max(0.0, 1.0 - ys[-1])
    full_at = datetime.fromtimestamp(t_last, UTC) + timedelta(days=remaining / slope)
    return Trend("growing", per_day, full_at, r2)


def days_left(full_at: str | datetime | None, now: datetime) -> float | None:
    if full_at is None:
        return None
    if isinstance(full_at, str):
        full_at = datetime.fromisoformat(full_at.replace("Z", "+00:00"))
    return max(0.0, (full_at - now).total_seconds() / DAY)


def words(days: float) -> str:
    """ "full in ~41 days" and its kin, for the pages and the status reason."""
    if days < 1:
        return "full within a day"
    if days < 1.5:
        return "full in ~1 day"
    if days < 730:
        return f"full in ~{round(days)} days"
    return f"full in ~{round(days / 365)} years"


def host_forecast(host_id: int, now: datetime) -> dict:
    """{"pools": {name: Trend json}, "storage": {name: Trend json}} from the hourly points
    of the last WINDOW_DAYS days (rows of a day each, metrics/rollupformat.py)."""
    from metrics.models import Rollup
    from metrics.rollupformat import HOUR, SPAN, decode

    since = int(now.timestamp()) - WINDOW_DAYS * 86400
    rows = Rollup.objects.filter(host_id=host_id, step=HOUR, start__gt=since - SPAN[HOUR])
    series: dict[str, dict[str, list]] = {"pools": {}, "storage": {}}
    capacity: dict[str, dict[str, float]] = {"pools": {}, "storage": {}}
    for start, blob in rows.order_by("start").values_list("start", "data"):
        data = decode(blob)
        for kind in ("pools", "storage"):
            for name, (slots, columns) in (data.get(kind) or {}).items():
                used, total = columns[0][1], columns[1][1]
                points = series[kind].setdefault(name, [])
                for i, slot in enumerate(slots):
                    at = start + slot * HOUR
                    if at < since or used[i] is None:
                        continue
                    points.append((at + HOUR / 2, used[i]))
                    if total[i] is not None:
                        capacity[kind][name] = total[i]
    return {
        kind: {
            name: trend(points, capacity[kind].get(name)).as_json()
            for name, points in series[kind].items()
            if points
        }
        for kind in series
    }


def refresh(now: datetime | None = None, should_stop=lambda: False) -> int:
    """Recompute the forecast of every host that ever sent a sample; how many."""
    from django.utils import timezone

    from hosts.models import Host
    from metrics.models import Forecast

    now = now or timezone.now()
    count = 0
    for host_id in Host.objects.filter(last_seen_at__isnull=False).values_list("pk", flat=True):
        if should_stop():
            break
        data = host_forecast(host_id, now)
        Forecast.objects.update_or_create(
            host_id=host_id, defaults={"data": data, "computed_at": now}
        )
        count += 1
    return count


def with_forecast(facts: dict, forecast: dict | None) -> dict:
    """A host's facts with its forecast as facts["forecast"] (what metrics.status reads)."""
    return facts if forecast is None else {**facts, "forecast": forecast}


STATE_WORDS = {
    "shrinking": "shrinking",
    "flat": "not growing",
    "noisy": "no clear trend",
    "too_short": "needs a day of history",
}


def describe(entry: dict | None, now: datetime) -> str:
    """One forecast of facts["forecast"] in words: "full in ~41 days", "not growing", ..."""
    if not entry:
        return ""
    if entry.get("state") == "growing":
        days = days_left(entry.get("full_at"), now)
        return words(days) if days is not None else ""
    return STATE_WORDS.get(entry.get("state", ""), "")


# trends move slowly: the history worker (manage.py roll_up --every) recomputes them hourly
EVERY_S = 3600.0
