"""The ingest hook, the sweep and pruning (the worker thread: test_e2e.py, real servers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
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


def test_a_paced_sweep_rests_after_each_slice_and_still_fires_what_is_due(
    host, channel, settings, monkeypatch
):
    channel()
    settings.PROXMON_ALERT_POOL_CAPACITY_DELAY_S = 600
    hosts = [host(f"pve{n}", capacity_pct=85.0) for n in range(3)]
    for each in hosts:
        evaluate(each)
    for each in hosts:
        set_facts(each, capacity_pct=85.0)  # fresh data, as the existing test does
    monkeypatch.setattr(engine, "SLICE_S", 0.0)  # a slice per host
    rests: list[float] = []
    assert engine.sweep(timezone.now() + timedelta(seconds=601), rest=rests.append) == 3
    assert len(rests) == 3 and all(r > 0 for r in rests)
    capacity = Alert.objects.filter(rule="pool_capacity")
    assert [a.state for a in capacity] == ["firing"] * 3
    assert Delivery.objects.count() == 3


def test_a_sweep_without_rest_does_not_rest(host, monkeypatch):
    evaluate(host("pve7", health="DEGRADED"))
    monkeypatch.setattr(engine, "SLICE_S", 0.0)
    monkeypatch.setattr(engine.time, "sleep", lambda s: pytest.fail("slept"))
    assert engine.sweep() == 1


def test_a_sweep_that_writes_nothing_spares_the_next_samples_an_evaluation(host, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from metrics.models import HostSummary

    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    facts = HostSummary.objects.get(host=pve7).facts
    # a restarted process knows no host: a sample would be evaluated in full at ingest
    monkeypatch.setattr(engine, "_signatures", {})
    monkeypatch.setattr(engine, "_hosts", {})
    with CaptureQueriesContext(connection) as before:
        engine.on_facts_changed(None, pve7.pk, facts, timezone.now(), 0.0)
    assert before.captured_queries
    monkeypatch.setattr(engine, "_signatures", {})
    monkeypatch.setattr(engine, "_hosts", {})
    engine.sweep()
    with CaptureQueriesContext(connection) as after:
        engine.on_facts_changed(None, pve7.pk, facts, timezone.now(), 0.0)
    assert after.captured_queries == []
    # a different condition is still evaluated at ingest
    facts["fast"]["pools"][0]["health"] = "ONLINE"
    engine.on_facts_changed(None, pve7.pk, facts, timezone.now(), 0.0)
    assert Alert.objects.get(rule="pool_health").state == "resolved"
