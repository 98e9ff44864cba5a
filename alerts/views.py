"""The alerts page (/alerts/), a channel's delivery log, and the forms that ack and silence."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from alerts.models import Alert, Channel, Delivery, Silence, Transition
from hosts.models import Host
from metrics.status import RANK

RECENT = 50
MAX_SILENCE_MINUTES = 525600


@require_GET
@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    silenced = set(Silence.objects.active(now).values_list("host_id", flat=True))
    active = list(
        Alert.objects.filter(state__in=[Alert.State.FIRING, Alert.State.PENDING]).select_related(
            "host"
        )
    )
    active.sort(key=lambda a: (a.state != "firing", RANK[a.level], a.since))
    for alert in active:
        # for the template only
        alert.silenced = alert.host_id in silenced  # type: ignore[attr-defined]
    context = {
        "firing": [a for a in active if a.state == "firing"],
        "pending": [a for a in active if a.state == "pending"],
        "silences": Silence.objects.active(now).select_related("host").order_by("until"),
        "transitions": Transition.objects.select_related("host").order_by("-at", "-id")[:RECENT],
        "channels": Channel.objects.all(),
        "hosts": Host.objects.exclude(status=Host.Status.NEVER_CONNECTED).values_list(
            "name", flat=True
        ),
    }
    return render(request, "alerts/alerts.html", context)


@require_GET
@login_required
def channel_log(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_object_or_404(Channel, name=name)
    deliveries = Delivery.objects.filter(channel=channel).order_by("-created_at", "-id")[:100]
    return render(request, "alerts/channel.html", {"channel": channel, "deliveries": deliveries})


@require_POST
@login_required
def ack(request: HttpRequest, pk: int) -> HttpResponse:
    now = timezone.now()
    with transaction.atomic():
        alert = get_object_or_404(Alert.objects.select_for_update(), pk=pk)
        if alert.state == Alert.State.FIRING and alert.acked_at is None:
            who = request.user.get_username()
            Alert.objects.filter(pk=pk).update(acked_at=now, acked_by=who)
            Transition.objects.create(
                alert=alert,
                host_id=alert.host_id,
                at=now,
                kind="acked",
                state=alert.state,
                level=alert.level,
                text=f"{alert.text} (acknowledged by {who})"[:255],
            )
    return _back(request)


@require_POST
@login_required
def silence(request: HttpRequest) -> HttpResponse:
    host = Host.objects.filter(name=request.POST.get("host", "").lower()).first()
    if host is None:
        raise Http404("No such host")
    try:
        minutes = int(request.POST.get("minutes", "60"))
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_SILENCE_MINUTES:
        return HttpResponse("minutes must be between 1 and 525600", status=400)
    Silence.objects.create(
        host=host,
        until=timezone.now() + timedelta(minutes=minutes),
        reason=request.POST.get("reason", "")[:255],
        created_by=request.user.get_username(),
    )
    return _back(request)


@require_POST
@login_required
def end_silence(request: HttpRequest, pk: int) -> HttpResponse:
    Silence.objects.filter(pk=pk, until__gt=timezone.now()).update(until=timezone.now())
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect("alerts")
