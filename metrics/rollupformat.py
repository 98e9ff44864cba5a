"""How history points are held: aggregates of samples, and rows of a span of points.

An **aggregate** is [count, average, maximum] of the samples that had a value, merged exactly
(count-weighted average); None when no sample had it. `extract` makes one sample's point:

    row = {"host": [cpu, load, mem, mem_total, rootfs, rootfs_total],        # aggregates
           "pools": {name: [allocated, size, fragmentation, read, write, checksum, data_errors]},
           "storage": {name: [used, total]}}
    guests = {vmid: [cpu, mem]}

A stored **row** (metrics.models.Rollup) holds every point of one host, step and span: the
hourly points of a UTC day (24), or the 5-minute points of an hour (12), see SPAN. It is stored
**columnar**, so neighbouring values of a number compress together (a host's memory total is
the same 24 times a day) and series.json extends its lists by a row's columns:

    group  = [slots, [[counts...], [averages...], [maxima...]] per field]
    data   = {"host": group, "pools": {name: group}, "storage": {name: group}}
    guests = {vmid: group}              # hourly rows only, its own column

`slots` are the sorted positions of the group's points in the span (point start = row start +
slot * step): a pool that was exported for an hour has no slot there. Every column has one
entry per slot; None where no sample of that point had the value. Both columns are zstd of
orjson. cpu and fragmentation are percentages, load the 1-minute load, the rest bytes (guest
memory too) or error counts; averages of whole numbers are rounded to whole numbers, of
percentages and load to 3 decimals.
"""

from __future__ import annotations

from bisect import bisect_left

import orjson

from metrics import codec

FIVE_MINUTES, HOUR, DAY = 300, 3600, 86400
STEPS = (FIVE_MINUTES, HOUR)
# Points per row. Hourly points: a UTC day (24): 365 rows a year instead of 8,760, which is
# what a year's chart and the size per host needed (docs/benchmarks.md "History"). 5-minute
# points: an hour (12), not a day (288): the pass rewrites the row of every point it merges
# into, several times an hour for the current one, and a day of 5-minute points is 24 times
# the work per rewrite for a few percent fewer bytes (measured in docs/benchmarks.md).
SPAN = {FIVE_MINUTES: HOUR, HOUR: DAY}
HOST_FIELDS = ("cpu", "load", "mem", "mem_total", "rootfs", "rootfs_total")
POOL_FIELDS = ("allocated", "size", "fragmentation", "read", "write", "checksum", "data_errors")
STORAGE_FIELDS = ("used", "total")
GUEST_FIELDS = ("cpu", "mem")
# fields whose average is a fraction (rounded to 3 decimals); the others are whole numbers
FRACTIONAL = {"cpu", "load", "fragmentation"}
# round()'s ndigits per field of each kind (None: a whole number)
DIGITS: dict[tuple[str, ...], tuple[int | None, ...]] = {
    fields: tuple(3 if name in FRACTIONAL else None for name in fields)
    for fields in (HOST_FIELDS, POOL_FIELDS, STORAGE_FIELDS, GUEST_FIELDS)
}

Agg = list | None  # [count, average, maximum]


def aggregate(value: float | None) -> Agg:
    return None if value is None else [1, value, value]


def merge(a: Agg, b: Agg) -> Agg:
    """Two aggregates of disjoint sets of samples as one."""
    if a is None:
        return b
    if b is None:
        return a
    count = a[0] + b[0]
    return [count, (a[1] * a[0] + b[1] * b[0]) / count, max(a[2], b[2])]


def merge_all(a: list[Agg], b: list[Agg]) -> list[Agg]:
    return [merge(x, y) for x, y in zip(a, b, strict=True)]


def merge_named(a: dict, b: dict) -> dict:
    merged = dict(a)
    for name, values in b.items():
        merged[name] = merge_all(merged[name], values) if name in merged else values
    return merged


def merge_rows(a: dict, b: dict) -> dict:
    merged = dict(a)
    if "host" in b:
        merged["host"] = merge_all(a["host"], b["host"]) if "host" in a else b["host"]
    for kind in ("pools", "storage"):
        if kind in b:
            merged[kind] = merge_named(a.get(kind) or {}, b[kind])
    return merged


def _number(value) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def extract(data: dict) -> tuple[dict, dict]:
    """One fast sample's `data` as (row, guests), each value an aggregate of one."""
    row: dict = {}
    host = data.get("host")
    if isinstance(host, dict):
        mem, rootfs, load = host.get("mem") or {}, host.get("rootfs") or {}, host.get("load")
        values: tuple = (
            host.get("cpu_percent"),
            load[0] if isinstance(load, list) and load else None,
            mem.get("used"),
            mem.get("total"),
            rootfs.get("used"),
            rootfs.get("total"),
        )
        row["host"] = [aggregate(_number(v)) for v in values]
    pools = (data.get("zfs_pools") or {}).get("pools")
    if isinstance(pools, list):
        row["pools"] = {}
        for pool in pools:
            errors = pool.get("errors") or {}
            pool_values: tuple = (
                pool.get("allocated"),
                pool.get("size"),
                pool.get("fragmentation_pct"),
                errors.get("read"),
                errors.get("write"),
                errors.get("checksum"),
                pool.get("data_errors"),
            )
            row["pools"][str(pool.get("name"))] = [aggregate(_number(v)) for v in pool_values]
    storages = data.get("storage")
    if isinstance(storages, list):
        row["storage"] = {
            str(s.get("storage")): [
                aggregate(_number(s.get("used"))),
                aggregate(_number(s.get("total"))),
            ]
            for s in storages
            if _number(s.get("used")) is not None
        }
    guests = {}
    for guest in data.get("guests") or []:
        guest_values = (guest.get("cpu_percent"), guest.get("mem"))
        guests[str(guest.get("vmid"))] = [aggregate(_number(v)) for v in guest_values]
    return row, guests


# --- rows of a span, columnar ------------------------------------------------------------


def span_start(start: int, step: int) -> int:
    return start - start % SPAN[step]


def put(group: list, slot: int, values: list[Agg], digits: tuple) -> None:
    """Merge one point's aggregates (one per field) into `group` at `slot`, in place.

    `digits` per field (DIGITS): averages are rounded here, where they change, so that writing
    a row does not round every value of it again (a day's guests are 7,200 numbers)."""
    slots, columns = group
    i = bisect_left(slots, slot)
    if i < len(slots) and slots[i] == slot:
        for (counts, avgs, maxes), agg, ndigits in zip(columns, values, digits, strict=True):
            if agg is None:
                continue
            if counts[i] is None:
                counts[i], avgs[i], maxes[i] = agg[0], round(agg[1], ndigits), agg[2]
            else:
                count = counts[i] + agg[0]
                average = (avgs[i] * counts[i] + agg[1] * agg[0]) / count  # as merge() does
                counts[i], avgs[i], maxes[i] = count, round(average, ndigits), max(maxes[i], agg[2])
        return
    slots.insert(i, slot)
    for (counts, avgs, maxes), agg, ndigits in zip(columns, values, digits, strict=True):
        if agg is None:
            counts.insert(i, None)
            avgs.insert(i, None)
            maxes.insert(i, None)
        else:
            counts.insert(i, agg[0])
            avgs.insert(i, round(agg[1], ndigits))
            maxes.insert(i, agg[2])


def _put_named(groups: dict, slot: int, named: dict, fields: tuple[str, ...]) -> None:
    digits = DIGITS[fields]
    for name, values in named.items():
        group = groups.get(name)
        if group is None:
            group = groups[name] = [[], [[[], [], []] for _ in fields]]
        put(group, slot, values, digits)


def put_row(span: dict, slot: int, row: dict) -> None:
    """Merge one point's `row` (the format of `extract`) into a decoded row `span`."""
    if "host" in row:
        group = span.get("host")
        if group is None:
            group = span["host"] = [[], [[[], [], []] for _ in HOST_FIELDS]]
        put(group, slot, row["host"], DIGITS[HOST_FIELDS])
    if "pools" in row:
        _put_named(span.setdefault("pools", {}), slot, row["pools"], POOL_FIELDS)
    if "storage" in row:
        _put_named(span.setdefault("storage", {}), slot, row["storage"], STORAGE_FIELDS)


def put_guests(span: dict, slot: int, guests: dict) -> None:
    _put_named(span, slot, guests, GUEST_FIELDS)


def point(group: list, slot: int) -> list[Agg] | None:
    """The aggregates of `group` at `slot` (one per field), or None: for tests and tools."""
    slots, columns = group
    if slot not in slots:
        return None
    i = slots.index(slot)
    return [None if c[0][i] is None else [c[0][i], c[1][i], c[2][i]] for c in columns]


def encode(span: dict) -> bytes:
    """A decoded row as stored (its averages were rounded by `put`)."""
    return codec.compress(orjson.dumps(span))


def decode(blob) -> dict:
    return orjson.loads(codec.decompress(bytes(blob)))


def encode_guests(guests: dict) -> bytes:
    return codec.compress(orjson.dumps(guests))


def decode_guests(blob) -> dict:
    return orjson.loads(codec.decompress(bytes(blob))) if blob is not None else {}


def guest_values(blob, vmid: int) -> list | None:
    """One guest's group from a row's `guests`, or None.

    Parses only that guest's part of the JSON: a year's chart of one guest reads 365 rows of
    fifty guests each. orjson writes `{"100":[[...],[...]],"101":...}` without spaces, and the
    values hold no quote, so a guest's value runs from its key to the next `,"` or the end."""
    if blob is None:
        return None
    text = codec.decompress(bytes(blob))
    key = b'"%d":' % vmid
    at = text.find(key)
    if at == -1:
        return None
    at += len(key)
    end = text.find(b',"', at)
    return orjson.loads(text[at : end if end != -1 else len(text) - 1])
