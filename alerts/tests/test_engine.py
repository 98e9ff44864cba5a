"""The ingest hook, the sweep and pruning (the worker thread: test_e2e.py, real servers)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from alerts import engine
from alerts.models import Alert, Delivery, Transition
from alerts.tests.conftest import evaluate, set_facts
from hosts.models import Host
from metrics.ingest import ingest
from metrics.tests import frames


def test_ingest_evaluates_a_host_whose_conditions_changed_and_skips_one_whose_did_not(
    make_host, channel
):
    channel()
    pve1, token = make_host("pve1")
    Host.objects.filter(pk=pve1.pk).update(status="online")
    now = timezone.now()
    healthy = frames.sample("fast", 1, now)
    ingest(pve1.pk, pve1.token_hash, healthy, now, 0.0)
    transitions = Transition.objects.count()
    again = frames.sample("fast", 2, now + timedelta(seconds=30))
    ingest(pve1.pk, pve1.token_hash, again, now + timedelta(seconds=30), 0.0)
    assert Transition.objects.count() == transitions  # nothing changed: not evaluated
    degraded = frames.sample("fast", 3, now + timedelta(seconds=60))
    degraded["data"]["zfs_pools"]["pools"][0]["health"] = "DEGRADED"
    ingest(pve1.pk, pve1.token_hash, degraded, now + timedelta(seconds=60), 0.0)
    alert = Alert.objects.get(rule="pool_health", subject="rpool")
    assert alert.state == "firing"
    assert Delivery.objects.get().title == "pve1: rpool DEGRADED"


def test_sweep_fires_what_waited_for_its_delay(host, channel, settings):
    channel()
    settings.PROXMON_ALERT_POOL_CAPACITY_DELAY_S = 600
    pve7 = host("pve7", capacity_pct=85.0)
    evaluate(pve7)
    assert Alert.objects.get(rule="pool_capacity").state == "pending"
    engine.sweep(timezone.now() + timedelta(seconds=599))
    assert Alert.objects.get(rule="pool_capacity").state == "pending"
    set_facts(pve7, capacity_pct=85.0)
    engine.sweep(timezone.now() + timedelta(seconds=601))
    assert Alert.objects.get(rule="pool_capacity").state == "firing"
    assert "tank 85 % full" in Delivery.objects.get().body


def test_history_is_pruned_after_the_history_window(host, settings):
    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    set_facts(pve7)
    evaluate(pve7)
    later = timezone.now() + timedelta(days=settings.PROXMON_ALERT_HISTORY_DAYS, seconds=1)
    assert engine.prune(timezone.now()) == 0
    assert engine.prune(later) > 0
    assert not Transition.objects.exists() and not Alert.objects.exists()


def test_sweep_of_hosts_where_nothing_changes_writes_nothing(host):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    with CaptureQueriesContext(connection) as queries:
        engine.sweep()
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements and set(statements) == {"SELECT"}


def test_hysteresis_holds_through_the_database_and_at_ingest(host, settings):
    settings.PROXMON_ALERT_POOL_CAPACITY_DELAY_S = 0
    pve7 = host("pve7", capacity_pct=91.0)
    evaluate(pve7)
    seen = []
    for used in (89.0, 88.0, 87.9, 78.0, 77.9):
        set_facts(pve7, capacity_pct=used)
        evaluate(pve7)
        alert = Alert.objects.get(rule="pool_capacity")
        seen.append((used, alert.state, alert.level))
    assert seen == [
        (89.0, "firing", "critical"),
        (88.0, "firing", "critical"),
        (87.9, "firing", "warning"),
        (78.0, "firing", "warning"),
        (77.9, "resolved", "warning"),
    ]
