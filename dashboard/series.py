"""Chart data of one host as JSON: `/hosts/<name>/series.json?range=7d` (docs/history.md).

The range picks the resolution: up to 48 h the host's own points of every fast sample (as long
as raw samples are kept, PROXMON_RETENTION_HOURS), up to 30 days the 5-minute history points,
beyond that the hourly ones (metrics/rollups.py). Pools and storages come from the 5-minute
points up to 30 days (raw samples would have to be decoded one by one) and from the hourly ones
beyond; a guest (`&guest=<vmid>`) always from the hourly ones, the only ones that keep guests.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.views import _host_or_404
from metrics.models import Forecast, MetricPoint, Rollup
from metrics.rollupformat import FIVE_MINUTES, HOUR, SPAN, decode, guest_values

RANGES = {
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "48h": timedelta(hours=48),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
RAW_UP_TO = timedelta(hours=48)
FIVE_MINUTES_UP_TO = timedelta(days=30)


@require_GET
@login_required
def host_series(request: HttpRequest, name: str) -> HttpResponse:
    host = _host_or_404(name)
    key = request.GET.get("range", "24h")
    if key not in RANGES:
        choices = ", ".join(RANGES)
        return JsonResponse({"error": f"range must be one of {choices}"}, status=400)
    guest = request.GET.get("guest")
    if guest is not None and not guest.isdigit():
        return JsonResponse({"error": "guest must be a VMID"}, status=400)
    body = series(host.pk, key, timezone.now(), int(guest) if guest else None)
    return HttpResponse(orjson.dumps(body), content_type="application/json")


def resolution(window: timedelta) -> str:
    """ "raw", "5m" or "1h" for the host's charts over `window`."""
    raw_hours = min(RAW_UP_TO, timedelta(hours=settings.PROXMON_RETENTION_HOURS))
    if window <= raw_hours:
        return "raw"
    five_minutes_kept = timedelta(days=settings.PROXMON_HISTORY_5M_DAYS)
    if window <= min(FIVE_MINUTES_UP_TO, five_minutes_kept):
        return "5m"
    return "1h"


def series(host_id: int, key: str, now: datetime, guest: int | None = None) -> dict:
    window = RANGES[key]
    since = now - window
    source = resolution(window)
    volume_step = HOUR if source == "1h" else FIVE_MINUTES
    body: dict = {
        "range": key,
        "since": int(since.timestamp()),
        "until": int(now.timestamp()),
        "source": source,
        "step": {"raw": None, "5m": FIVE_MINUTES, "1h": HOUR}[source],
        "volume_step": volume_step,
    }
    first = _first_point(since, volume_step)
    rows = _rollups(host_id, volume_step, first)
    host, rootfs, pools, storage = _history(rows, volume_step, first)
    body["host"] = _raw_host(host_id, since) if source == "raw" else host
    body["rootfs"] = rootfs
    body["pools"] = pools
    body["storage"] = storage
    forecast = Forecast.objects.filter(host_id=host_id).values_list("data", flat=True).first()
    body["forecast"] = forecast or {}
    if guest is not None:
        body["guest"] = _guest(host_id, since, guest)
    return body


def _first_point(since: datetime, step: int) -> int:
    """The start of the point of `step` that `since` falls in: the first point shown."""
    start = int(since.timestamp())
    return start - start % step


def _rollups(host_id: int, step: int, first: int, column: str = "data"):
    """(start, blob) of the host's rows of `step` whose span holds points from `first` on."""
    return (
        Rollup.objects.filter(host_id=host_id, step=step, start__gt=first - SPAN[step])
        .order_by("start")
        .values_list("start", column)
        .iterator(chunk_size=1000)
    )


def _points(group: list, start: int, step: int, first: int) -> tuple[list, list]:
    """A row's group as (t of each point, its columns), without the points before `first`
    (only in the oldest row of a range)."""
    slots, columns = group
    ts = [start + slot * step for slot in slots]
    if ts and ts[0] < first:
        cut = bisect_left(ts, first)
        ts = ts[cut:]
        columns = [[counts[cut:], avgs[cut:], maxes[cut:]] for counts, avgs, maxes in columns]
    return ts, columns


def _raw_host(host_id: int, since: datetime) -> dict:
    rows = (
        MetricPoint.objects.filter(host_id=host_id, collected_at__gte=since)
        .order_by("collected_at")
        .values_list(
            "collected_at", "cpu_percent", "mem_used", "mem_total", "load1", "load5", "load15"
        )
    )
    out: dict[str, list] = {
        k: [] for k in ("t", "cpu", "mem", "mem_total", "load", "load5", "load15")
    }
    for when, cpu, used, total, l1, l5, l15 in rows:
        out["t"].append(int(when.timestamp()))
        out["cpu"].append(cpu)
        out["mem"].append(used)
        out["mem_total"].append(total)
        out["load"].append(l1)
        out["load5"].append(l5)
        out["load15"].append(l15)
    return out


HOST_KEYS = ("t", "cpu", "cpu_max", "mem", "mem_max", "mem_total", "load", "load_max")
POOL_FIELDS = ("allocated", "size", "fragmentation")
STORAGE_FIELDS = ("used", "total")


def _history(rows, step: int, first: int) -> tuple[dict, dict, dict, dict]:
    """host, rootfs, pools and storage series from history rows, in one pass.

    host: average and maximum per point (`t`: each point's start). rootfs: used (average) and
    total. Per pool and storage: its points (own `t`: it may come and go), the first field's
    average and maximum, the others' average.

    A row holds its points columnar (metrics/rollupformat.py): each list is extended by a
    row's column, not appended to point by point. One pass that keeps only the lists: holding
    every decoded row at once made Python's cyclic garbage collector run over them again and
    again (docs/benchmarks.md "History")."""
    host: dict[str, list] = {k: [] for k in HOST_KEYS}
    t, cpu, cpu_max, mem, mem_max, mem_total, load, load_max = (host[k].extend for k in HOST_KEYS)
    rootfs: dict[str, list] = {"t": [], "used": [], "total": []}
    pools: dict[str, dict[str, list]] = {}
    storage: dict[str, dict[str, list]] = {}
    pool_extends: dict[str, tuple] = {}
    storage_extends: dict[str, tuple] = {}
    for start, blob in rows:
        data = decode(blob)
        group = data.get("host")
        if group:
            ts, (c, lo, m, mt, used, total) = _points(group, start, step, first)
            t(ts)
            cpu(c[1])
            cpu_max(c[2])
            mem(m[1])
            mem_max(m[2])
            mem_total(mt[2])
            load(lo[1])
            load_max(lo[2])
            used_avg, total_max = used[1], total[2]
            if None in used[0]:  # a point without root filesystem: left out of its chart
                known = [i for i, count in enumerate(used[0]) if count is not None]
                ts = [ts[i] for i in known]
                used_avg = [used_avg[i] for i in known]
                total_max = [total_max[i] for i in known]
            rootfs["t"].extend(ts)
            rootfs["used"].extend(used_avg)
            rootfs["total"].extend(total_max)
        for kind, out, fields, extends in (
            ("pools", pools, POOL_FIELDS, pool_extends),
            ("storage", storage, STORAGE_FIELDS, storage_extends),
        ):
            for name, group in (data.get(kind) or {}).items():
                found = extends.get(name)
                if found is None:
                    found = extends[name] = _volume(out, name, fields)
                add_t, add_max, add_fields = found
                ts, columns = _points(group, start, step, first)
                add_t(ts)
                add_max(columns[0][2])
                for add, column in zip(add_fields, columns, strict=False):
                    add(column[1])
    return host, rootfs, pools, storage


def _volume(out: dict, name: str, fields: tuple[str, ...]) -> tuple:
    """A new pool's or storage's series in `out`, and the extends of its lists: t, the first
    field's maximum, each field's average."""
    series: dict[str, list] = {"t": [], f"{fields[0]}_max": [], **{f: [] for f in fields}}
    out[name] = series
    return (
        series["t"].extend,
        series[f"{fields[0]}_max"].extend,
        tuple(series[f].extend for f in fields),
    )


def _guest(host_id: int, since: datetime, vmid: int) -> dict:
    first = _first_point(since, HOUR)
    out: dict = {
        "vmid": vmid,
        "step": HOUR,
        "t": [],
        "cpu": [],
        "cpu_max": [],
        "mem": [],
        "mem_max": [],
    }
    for start, blob in _rollups(host_id, HOUR, first, "guests"):
        group = guest_values(blob, vmid)
        if group is None:
            continue
        ts, (cpu, mem) = _points(group, start, HOUR, first)
        out["t"].extend(ts)
        out["cpu"].extend(cpu[1])
        out["cpu_max"].extend(cpu[2])
        out["mem"].extend(mem[1])
        out["mem_max"].extend(mem[2])
    return out
