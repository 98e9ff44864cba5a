"""Chart data of one host as JSON: `/hosts/<name>/series.json?range=7d` (docs/history.md).

The range picks the resolution: up to 48 h the host's own points of every fast sample (as long
as raw samples are kept, PROXMON_RETENTION_HOURS), up to 30 days the 5-minute history points,
beyond that the hourly ones (metrics/rollups.py). Pools and storages come from the 5-minute
points up to 30 days (raw samples would have to be decoded one by one) and from the hourly ones
beyond; a guest (`&guest=<vmid>`) always from the hourly ones, the only ones that keep guests.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.views import _host_or_404
from metrics.models import Forecast, MetricPoint, Rollup
from metrics.rollups import FIVE_MINUTES, HOUR, decode, guest_values

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
    host, rootfs, pools, storage = _history(_rollups(host_id, volume_step, since))
    body["host"] = _raw_host(host_id, since) if source == "raw" else host
    body["rootfs"] = rootfs
    body["pools"] = pools
    body["storage"] = storage
    forecast = Forecast.objects.filter(host_id=host_id).values_list("data", flat=True).first()
    body["forecast"] = forecast or {}
    if guest is not None:
        body["guest"] = _guest(host_id, since, guest)
    return body


def _rollups(host_id: int, step: int, since: datetime):
    """(start, data blob) of the host's points of `step` from the bucket `since` falls in."""
    start = int(since.timestamp())
    start -= start % step
    return (
        Rollup.objects.filter(host_id=host_id, step=step, start__gte=start)
        .order_by("start")
        .values_list("start", "data")
        .iterator(chunk_size=1000)
    )


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


def _history(rows) -> tuple[dict, dict, dict, dict]:
    """host, rootfs, pools and storage series from history points, in one pass.

    host: average and maximum per point (`t`: each bucket's start). rootfs: used (average) and
    total. Per pool and storage: its points (own `t`: it may come and go), the first field's
    average and maximum, the others' average.

    One pass that keeps only numbers: a year is 8,760 points, and holding every decoded point
    at once (a dict and ~50 lists each) made Python's cyclic garbage collector run over them
    again and again, 0.9 s of a request instead of 0.1 s (docs/benchmarks.md "History")."""
    host: dict[str, list] = {k: [] for k in HOST_KEYS}
    t, cpu, cpu_max, mem, mem_max, mem_total, load, load_max = (host[k].append for k in HOST_KEYS)
    rootfs: dict[str, list] = {"t": [], "used": [], "total": []}
    root_t, root_used, root_total = (rootfs[k].append for k in ("t", "used", "total"))
    pools: dict[str, dict[str, list]] = {}
    storage: dict[str, dict[str, list]] = {}
    pool_appends: dict[str, tuple] = {}
    storage_appends: dict[str, tuple] = {}
    for start, blob in rows:
        data = decode(blob)
        values = data.get("host")
        if values:
            c, lo, m, mt = values[0], values[1], values[2], values[3]
            t(start)
            cpu(None if c is None else c[1])
            cpu_max(None if c is None else c[2])
            mem(None if m is None else m[1])
            mem_max(None if m is None else m[2])
            mem_total(None if mt is None else mt[2])
            load(None if lo is None else lo[1])
            load_max(None if lo is None else lo[2])
            used, total = values[4], values[5]
            if used is not None:
                root_t(start)
                root_used(used[1])
                root_total(None if total is None else total[2])
        for kind, out, fields, appends in (
            ("pools", pools, POOL_FIELDS, pool_appends),
            ("storage", storage, STORAGE_FIELDS, storage_appends),
        ):
            for name, aggregates in (data.get(kind) or {}).items():
                found = appends.get(name)
                if found is None:
                    found = appends[name] = _volume(out, name, fields)
                add_t, add_max, add_fields = found
                add_t(start)
                first = aggregates[0]
                add_max(None if first is None else first[2])
                for add, agg in zip(add_fields, aggregates, strict=False):
                    add(None if agg is None else agg[1])
    return host, rootfs, pools, storage


def _volume(out: dict, name: str, fields: tuple[str, ...]) -> tuple:
    """A new pool's or storage's series in `out`, and the appends of its lists: t, the first
    field's maximum, each field's average."""
    series: dict[str, list] = {"t": [], f"{fields[0]}_max": [], **{f: [] for f in fields}}
    out[name] = series
    return (
        series["t"].append,
        series[f"{fields[0]}_max"].append,
        tuple(series[f].append for f in fields),
    )


def _avg(agg):
    return None if agg is None else agg[1]


def _max(agg):
    return None if agg is None else agg[2]


def _guest(host_id: int, since: datetime, vmid: int) -> dict:
    start = int(since.timestamp())
    start -= start % HOUR
    found = (
        Rollup.objects.filter(host_id=host_id, step=HOUR, start__gte=start)
        .order_by("start")
        .values_list("start", "guests")
    )
    out: dict = {
        "vmid": vmid,
        "step": HOUR,
        "t": [],
        "cpu": [],
        "cpu_max": [],
        "mem": [],
        "mem_max": [],
    }
    for at, blob in found.iterator(chunk_size=1000):
        values = guest_values(blob, vmid)
        if values is None:
            continue
        cpu, mem = values
        out["t"].append(at)
        out["cpu"].append(_avg(cpu))
        out["cpu_max"].append(_max(cpu))
        out["mem"].append(_avg(mem))
        out["mem_max"].append(_max(mem))
    return out
