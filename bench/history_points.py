"""History points of a simulated host as the background pass would build them, for bench.history's
size and series (see bench/history_size.py for what is simulated and why)."""

from __future__ import annotations

from datetime import UTC, datetime

DAY = 86400


def counted(values: list, count: int) -> list:
    """Aggregates with `count` samples each (see the module docstring)."""
    return [None if agg is None else [count, agg[1], agg[2]] for agg in values]


def counted_row(row: dict, count: int) -> dict:
    out: dict = {}
    if "host" in row:
        out["host"] = counted(row["host"], count)
    for kind in ("pools", "storage"):
        if kind in row:
            out[kind] = {name: counted(v, count) for name, v in row[kind].items()}
    return out


def history_points(host_id: int, simulated, now: datetime, days: int, five_minute_days: int):
    """(buckets as rollups._merged takes them, 5-minute points, hourly points) of one host,
    oldest first, yielded a day at a time."""
    from metrics import rollups

    end = now.timestamp() // 3600 * 3600
    first = end - days * DAY
    five_minutes_from = end - five_minute_days * DAY
    for day_start in range(int(first), int(end), DAY):
        buckets: dict = {}
        for hour in range(day_start, day_start + DAY, 3600):
            recent = hour >= five_minutes_from
            offsets = range(150, 3600, 300) if recent else (900, 2700)
            row: dict = {}
            guests: dict = {}
            for offset in offsets:
                when = datetime.fromtimestamp(hour + offset, UTC)
                sample_row, sample_guests = rollups.extract(simulated.data("fast", when))
                row = rollups.merge_rows(row, sample_row)
                guests = rollups.merge_named(guests, sample_guests)
                if recent:
                    key = (host_id, rollups.FIVE_MINUTES, hour + offset - 150)
                    buckets[key] = [counted_row(sample_row, 10), None]
            guests = {vmid: counted(values, 120) for vmid, values in guests.items()}
            buckets[(host_id, rollups.HOUR, hour)] = [counted_row(row, 120), guests]
        yield buckets
