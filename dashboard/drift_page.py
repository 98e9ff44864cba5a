"""The fleet drift page, /drift/: every host's versions side by side (dashboard/drift.py builds,
marks and sorts the rows). One view serves the page and the table fragment its sort links swap.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
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


def fleet_rows() -> list[drift.Row]:
    """Every host's row, marked against the fleet's usual versions."""
    rows = []
    for name, status, system, error, collected_at in Host.objects.values_list(*FIELDS):
        slow: dict = {"collected_at": collected_at, "errors": {"system": error} if error else {}}
        if system is not None:
            slow["system"] = system
        rows.append(drift.host_row(name, Host.Status(status).label, {"slow": slow}))
    return rows


@require_GET
@login_required
def fleet_drift(request: HtmxHttpRequest) -> HttpResponse:
    sort = request.GET.get("sort", "name")
    sort = sort if sort.lstrip("-") in drift.SORTS else "name"
    rows = fleet_rows()
    usual = drift.usual_values(rows)
    drift.mark(rows, usual)
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
