"""The forecast rules as alerts: fired by the sweep after their delay, kept through ingest."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from alerts import engine
from alerts.models import Alert, Delivery
from alerts.tests.conftest import set_facts
from metrics.ingest import ingest
from metrics.models import Forecast
from metrics.tests import frames


def growing(days: float) -> dict:
    full_at = (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"pools": {"tank": {"state": "growing", "full_at": full_at}}, "storage": {}}


def test_full_soon_fires_after_its_delay_and_ingest_does_not_resolve_it(
    host, channel, settings, make_host
):
    channel()
    settings.PROXMON_ALERT_POOL_FULL_SOON_DELAY_S = 600
    pve7 = host("pve7")
    Forecast.objects.create(host=pve7, data=growing(12.4))
    engine.sweep()
    assert Alert.objects.get(rule="pool_full_soon", subject="tank").state == "pending"
    set_facts(pve7)
    engine.sweep(timezone.now() + timedelta(seconds=601))
    alert = Alert.objects.get(rule="pool_full_soon", subject="tank")
    assert alert.state == "firing"
    assert "tank full in ~12 days" in Delivery.objects.get().body

    # a sample arrives: ingest knows no forecast, so the alert is unknown there, not resolved
    pve7.issue_token()
    pve7.refresh_from_db()
    sample = frames.sample("fast", 1, timezone.now())
    sample["data"]["zfs_pools"]["pools"][0]["name"] = "tank"
    ingest(pve7.pk, pve7.token_hash, sample, timezone.now(), 0.0)
    assert Alert.objects.get(rule="pool_full_soon", subject="tank").state == "firing"

    # the trend turns: the next forecast says nothing, and the sweep resolves it
    Forecast.objects.filter(host=pve7).update(data={"pools": {"tank": {"state": "flat"}}})
    engine.sweep()
    assert Alert.objects.get(rule="pool_full_soon", subject="tank").state == "resolved"
