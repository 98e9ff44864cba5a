"""The fleet drift page, /drift/: every host's versions side by side (dashboard/drift.py builds,
marks and sorts the rows). One view serves the page and the table fragment its sort links swap.

A thousand rows through the template engine cost ~0.35 ms each (docs/benchmarks.md), and
between two requests most rows say the same: each row's HTML is kept per process and rendered
again only when what it says (its repr: values, marks, flags, status) or the day changed.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from dashboard import drift
from dashboard.htmx import HtmxHttpRequest
from hosts.models import Host

# Only the slow tier's system facts and their dates, straight from the JSON (not the pools,
# disks and backups a thousand hosts' whole facts would bring along).
FIELDS = (
    "name",
    "status",
    "summary__facts__slow__system",
    "summary__facts__slow__errors__system",
    "summary__facts__slow__collected_at",
)

# host name -> (what the row said and the day, its HTML); only the hosts of the last request
_rendered: dict[str, tuple[str, SafeString]] = {}


def fleet_rows() -> list[drift.Row]:
    """Every host's row, marked against the fleet's usual versions."""
    rows = []
    for name, status, system, error, collected_at in Host.objects.values_list(*FIELDS):
        slow: dict = {"collected_at": collected_at, "errors": {"system": error} if error else {}}
        if system is not None:
            slow["system"] = system
        rows.append(drift.host_row(name, Host.Status(status).label, {"slow": slow}))
    return rows


def render_rows(rows: list[drift.Row]) -> None:
    """Set each row's `html`, from the kept ones where the row says the same (module docstring;
    the day counts: a time of another day shows its date)."""
    global _rendered
    template = get_template("dashboard/_drift_row.html")
    today = timezone.now().date()
    kept = {}
    for row in rows:
        key = f"{row!r}/{today}"
        cached = _rendered.get(row.name)
        if cached is None or cached[0] != key:
            cached = (key, mark_safe(template.render({"row": row})))
        kept[row.name] = cached
        row.html = cached[1]
    _rendered = kept  # one assignment: a request on another thread sees the old or the new


@require_GET
@login_required
def fleet_drift(request: HtmxHttpRequest) -> HttpResponse:
    sort = request.GET.get("sort", "name")
    sort = sort if sort.lstrip("-") in drift.SORTS else "name"
    rows = fleet_rows()
    usual = drift.usual_values(rows)
    drift.mark(rows, usual)
    render_rows(rows)
    context = {
        "rows": drift.sort_rows(rows, sort),
        "headers": drift.headers(sort),
        "sort": sort,
        "usual": usual,
        "usual_columns": drift.COLUMNS[1:],
        "tally": drift.tally(rows),
    }
    if request.htmx and request.htmx.target == "drift":
        return render(request, "dashboard/_drift.html", context)
    return render(request, "dashboard/drift.html", context)
