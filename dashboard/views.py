"""The pages: overview, host detail, guest search, login. One view per page serves both the
full page and the htmx fragment it refreshes."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET

from alerts.queries import firing_by_host
from dashboard import cards, fleet, search, vdevs
from dashboard.htmx import HtmxHttpRequest
from hosts.models import NAME_PATTERN, Host
from metrics.forecast import describe, with_forecast
from metrics.limits import client_address, login_limiter
from metrics.models import Forecast, Guest, LatestSample, MetricPoint
from metrics.status import OK, Thresholds, evaluate, pool_fill_level, storage_fill_level

SORTS = {"status", "name"}
# the host charts' ranges (dashboard/series.py), as the buttons read
CHART_RANGES = [
    ("6h", "6 h"),
    ("24h", "24 h"),
    ("48h", "48 h"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("1y", "1 year"),
]
GUEST_COLUMNS = [
    ("name", "name"),
    ("vmid", "VMID"),
    ("type", "type"),
    ("status", "status"),
    ("cpu", "CPU"),
    ("mem", "RAM"),
]
GUEST_SORTS = {
    "name": lambda g: (g["name"].lower(), g["vmid"]),
    "vmid": lambda g: g["vmid"],
    "status": lambda g: (g["status"], g["name"].lower()),
    "type": lambda g: (g["type"], g["vmid"]),
    "cpu": lambda g: (-(g["cpu_percent"] or 0), g["name"].lower()),
    "mem": lambda g: (-(g["mem"] or 0), g["name"].lower()),
}


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and systemd: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


# The live refresh asks for the cards of the hosts the socket named (100 at a time, proxmon.js).
MAX_ASKED_HOSTS = 200


@require_GET
@login_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """The fleet's cards, filtered and sorted. With ?hosts=a,b (the page's live refresh): the
    fleet line, the order of the cards the page shows (name and stamp each) and the cards of
    only those hosts, so that one host changing does not re-send a thousand cards."""
    asked = None
    if "hosts" in request.GET:
        asked = {n.strip().lower() for n in request.GET["hosts"].split(",") if n.strip()}
        if len(asked) > MAX_ASKED_HOSTS:
            return HttpResponseBadRequest(f"hosts: at most {MAX_ASKED_HOSTS} names at a time")
    status = request.GET.get("status", "")
    status = status if status in fleet.LEVELS else ""
    text = " ".join(request.GET.get("q", "").split())[:100]
    sort = request.GET.get("sort", "status")
    sort = sort if sort in SORTS else "status"
    every = fleet.cards(timezone.now())
    tags = sorted({tag for card in every for tag in card.host.tag_list})
    tag = request.GET.get("tag", "")
    tag = tag if tag in tags else ""
    if tag:
        every = [card for card in every if tag in card.host.tag_list]
    firing = firing_by_host()
    for card in every:
        card.firing = firing.get(card.host.pk, 0)
    tally = fleet.counts(every)
    shown = fleet.select(every, status, text, sort)
    context = {
        "cards": shown,
        "tally": tally,
        "tally_shown": [(level, tally[level]) for level in fleet.LEVELS if tally[level]],
        "fleet_line": fleet.fleet_line(tally),
        "status": status,
        "q": text,
        "sort": sort,
        "levels": fleet.LEVELS,
        "live": True,
        "tags": tags,
        "tag": tag,
    }
    if asked is not None:
        context["order"] = [[card.host.name, card.stamp] for card in shown]
        context["cards"] = shown = [card for card in shown if card.host.name in asked]
    cards.render(shown, timezone.localdate())
    if asked is not None:
        return render(request, "dashboard/_fleet_update.html", context)
    if request.htmx and request.htmx.target == "fleet":
        return render(request, "dashboard/_fleet.html", context)
    return render(request, "dashboard/overview.html", context)


def _host_or_404(name: str) -> Host:
    if not NAME_PATTERN.match(name):
        raise Http404("No such host")
    return get_object_or_404(Host.objects.select_related("summary"), name=name.lower())


@require_GET
@login_required
def host_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    host = _host_or_404(name)
    summary = getattr(host, "summary", None)
    forecast = Forecast.objects.filter(host=host).values_list("data", flat=True).first() or {}
    facts = with_forecast(summary.facts if summary is not None else {}, forecast)
    now = timezone.now()
    thresholds = Thresholds.from_settings()
    verdict = evaluate(host.status, host.last_seen_at, host.clock_skew_s, facts, now, thresholds)
    latest = {
        row.tier: row for row in LatestSample.objects.filter(host=host).select_related("keyframe")
    }
    fast = latest["fast"].data if "fast" in latest else {}
    medium = latest["medium"].data if "medium" in latest else {}
    sort = request.GET.get("sort", "name")
    sort = sort if sort in GUEST_SORTS else "name"
    compact_pools = {p["name"]: p for p in (facts.get("fast") or {}).get("pools", [])}
    zfs_pools = fast.get("zfs_pools") or {}
    raw = zfs_pools.get("raw")  # any JSON the agent sent, or absent (vdevs.layout reads it)
    pools = [
        {
            **pool,
            "last_scrub_known": compact_pools.get(pool["name"], {}).get("last_scrub_known", True),
            "last_scrub_end": compact_pools.get(pool["name"], {}).get(
                "last_scrub_end", pool.get("last_scrub_end")
            ),
            "tree": vdevs.layout(raw, pool["name"]),
            "level": verdict.pool_levels.get(pool["name"], OK),
            "fill": pool_fill_level(pool, thresholds),
            "forecast": describe((forecast.get("pools") or {}).get(pool["name"]), now),
        }
        for pool in zfs_pools.get("pools", [])
    ]
    storage = [
        {
            **s,
            "fill": storage_fill_level(s, thresholds) if s.get("enabled") else OK,
            "forecast": describe((forecast.get("storage") or {}).get(s.get("storage")), now),
        }
        for s in fast.get("storage") or []
    ]
    datasets = [
        {**d, "stale": _snapshot_stale(d, now, thresholds)}
        for d in (medium.get("datasets") or {}).get("datasets", [])
    ]
    context = {
        "host": host,
        "verdict": verdict,
        "facts": facts,
        "metrics": fast.get("host"),
        "pools": pools,
        "datasets": datasets,
        "storage": storage,
        "errors": {tier: row.errors for tier, row in latest.items() if row.errors},
        "latest": latest,
        "guests": _guests(host, fast, sort),
        "sort": sort,
        "skew_bad": host.clock_skew_s is not None
        and abs(host.clock_skew_s) > thresholds.clock_skew_s,
        "chart_ranges": CHART_RANGES,
        "guest_columns": GUEST_COLUMNS,
        "live": True,
    }
    if request.htmx and request.htmx.target == "host-live":
        return render(request, "dashboard/_host_live.html", context)
    return render(request, "dashboard/host.html", context)


def _guests(host: Host, fast: dict, sort: str) -> list[dict]:
    """The guest index of the host, with CPU, memory and uptime from the latest fast sample."""
    runtime = {g["vmid"]: g for g in fast.get("guests") or []}
    rows = []
    for guest in Guest.objects.filter(host=host):
        now = runtime.get(guest.vmid, {})
        rows.append(
            {
                "vmid": guest.vmid,
                "name": guest.name,
                "type": guest.type,
                "status": now.get("status", guest.status),
                "cpu_percent": now.get("cpu_percent"),
                "mem": now.get("mem"),
                "maxmem": guest.maxmem or guest.memory,
                "uptime_s": now.get("uptime_s"),
                "ips": guest.ips,
                "tags": guest.tags,
            }
        )
    return sorted(rows, key=GUEST_SORTS[sort])


def _snapshot_stale(dataset: dict, now, t: Thresholds) -> str:
    from dashboard.templatetags.proxmon import to_datetime

    if not dataset.get("snapshot_count"):
        return ""
    newest = to_datetime(dataset.get("newest_snapshot"))
    oldest = to_datetime(dataset.get("oldest_snapshot"))
    if newest and now - newest > timedelta(days=t.snapshot_newest_max_age_days):
        return "newest snapshot too old"
    if oldest and now - oldest > timedelta(days=t.snapshot_oldest_max_age_days):
        return "oldest snapshot too old"
    return ""


@require_GET
@login_required
def host_metrics(request: HttpRequest, name: str) -> JsonResponse:
    """Chart series since `hours` ago (default 24, at most the retention window)."""
    host = _host_or_404(name)
    try:
        hours = float(request.GET.get("hours", "24"))
    except ValueError:
        hours = 24.0
    if not 0 < hours < 1e6:
        hours = 24.0
    hours = min(hours, settings.PROXMON_RETENTION_HOURS)
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        MetricPoint.objects.filter(host=host, collected_at__gte=since)
        .order_by("collected_at")
        .values_list(
            "collected_at", "cpu_percent", "mem_used", "mem_total", "load1", "load5", "load15"
        )
    )
    series: dict[str, list] = {
        k: [] for k in ("t", "cpu", "mem", "mem_total", "load1", "load5", "load15")
    }
    for when, cpu, used, total, l1, l5, l15 in rows:
        series["t"].append(int(when.timestamp()))
        series["cpu"].append(cpu)
        series["mem"].append(used)
        series["mem_total"].append(total)
        series["load1"].append(l1)
        series["load5"].append(l5)
        series["load15"].append(l15)
    return JsonResponse({"hours": hours, **series})


@require_GET
@login_required
def vms(request: HtmxHttpRequest) -> HttpResponse:
    query = search.normalise(request.GET.get("q", ""))
    context: dict = {"q": query, "mode": "", "results": [], "total": 0}
    if query:
        mode, found = search.guests(query)
        results = list(found[: search.MAX_RESULTS + 1])
        context.update(
            mode=mode,
            results=results[: search.MAX_RESULTS],
            more=len(results) > search.MAX_RESULTS,
            limit=search.MAX_RESULTS,
        )
    if request.htmx and request.htmx.target == "results":
        return render(request, "dashboard/_results.html", context)
    return render(request, "dashboard/vms.html", context)


def limit_failed_logins(view):
    """Failed logins limited per client address and user name, on every login page.

    Wraps ours and the admin's (proxmon/urls.py): one limiter for both, so /admin/login/ is
    no way around /login/'s limit. How names and addresses count: metrics/limits.py. A refused
    attempt is answered 429 without checking the password.
    """

    @wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        address = client_address(getattr(request, "scope", None) or _scope_of(request))
        name = request.POST.get("username", "")
        if login_limiter.blocked(address, name):
            context = {"form": AuthenticationForm(request), "blocked": True}
            response = render(request, LoginView.template_name, context, status=429)
            response["Retry-After"] = "60"
            return response
        response = view(request, *args, **kwargs)
        user = getattr(request, "user", None)
        if response.status_code != 302:  # the form came back: wrong name or password
            login_limiter.failed(address, name)
        elif user is not None and user.get_username().lower() == name.strip().lower():
            # logged in as this name (not a redirect of someone already logged in as another)
            login_limiter.succeeded(address, name)
        return response

    return limited


@method_decorator(limit_failed_logins, name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's login, with failed attempts limited (limit_failed_logins)."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True


def _scope_of(request: HttpRequest) -> dict:
    """An ASGI-like scope for WSGI requests (the test client), for client_address()."""
    headers = []
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if forwarded:
        headers.append((b"x-forwarded-for", forwarded.encode("latin-1")))
    return {"client": (request.META.get("REMOTE_ADDR", ""), 0), "headers": headers}
