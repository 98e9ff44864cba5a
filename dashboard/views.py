from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hosts.models import Host


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and systemd: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    hosts = Host.objects.order_by("name")
    return render(request, "dashboard/overview.html", {"hosts": hosts})
