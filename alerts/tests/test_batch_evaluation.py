"""Hosts to be evaluated (not evaluated by this process yet, or whose conditions changed),
evaluated together at the end of the writer's batch (alerts.engine._evaluate_batch;
metrics.signals.batch)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import engine
from alerts.models import Alert, Delivery
from hosts.models import Host
from metrics.ingest import Pending, Stored
from metrics.tests import frames
from metrics.writer import each_in_one_transaction, ingest_many, ingest_pending

# the evaluations are remembered when the batch commits
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def restarted(monkeypatch):
    """A process that has evaluated no host yet, as after a restart."""
    monkeypatch.setattr(engine, "_signatures", {})
    monkeypatch.setattr(engine, "_hosts", {})


def online(make_host, name: str) -> Host:
    host = make_host(name)[0]
    Host.objects.filter(pk=host.pk).update(status="online")
    return host


def sample(host: Host, health: str = "ONLINE", seq: int = 1) -> Pending:
    now = timezone.now() + timedelta(seconds=30 * seq)
    frame = frames.sample("fast", seq, now)
    frame["data"]["zfs_pools"]["pools"][0]["health"] = health
    return Pending(host.pk, host.token_hash, frame, now, 0.0)


def test_a_batch_of_unknown_hosts_is_evaluated_at_its_end_and_fires_in_its_commit(
    make_host, channel
):
    channel()
    hosts = [online(make_host, f"pve{n}") for n in range(3)]
    results = ingest_many([sample(hosts[0]), sample(hosts[1], "DEGRADED"), sample(hosts[2])])
    assert all(isinstance(r, Stored) for r in results)
    alert = Alert.objects.get(rule="pool_health")
    assert (alert.host_id, alert.state) == (hosts[1].pk, "firing")
    assert Delivery.objects.get().title == "pve1: rpool DEGRADED"
    assert set(engine._signatures) == {h.pk for h in hosts}  # known from now on


def test_unknown_hosts_cost_the_same_queries_however_many_there_are(make_host, monkeypatch):
    def alert_queries(count: int, prefix: str) -> int:
        hosts = [online(make_host, f"{prefix}{n}") for n in range(count)]
        ingest_many([sample(host) for host in hosts])  # their first alerts written
        monkeypatch.setattr(engine, "_signatures", {})  # a restart
        monkeypatch.setattr(engine, "_hosts", {})
        with CaptureQueriesContext(connection) as queries:
            ingest_many([sample(host, seq=2) for host in hosts])
        return sum("alerts_alert" in q["sql"] for q in queries.captured_queries)

    assert alert_queries(1, "one") == alert_queries(5, "five") == 1


def test_known_hosts_whose_conditions_changed_are_read_once_for_all(make_host):
    # a restarted server: each host's next samples (its other tiers) change what holds
    def alert_reads(count: int, prefix: str) -> int:
        hosts = [online(make_host, f"{prefix}{n}") for n in range(count)]
        ingest_many([sample(host) for host in hosts])  # evaluated: known to the process
        with CaptureQueriesContext(connection) as queries:
            ingest_many([sample(host, "DEGRADED", seq=2) for host in hosts])
        assert Alert.objects.filter(host__in=hosts, rule="pool_health").count() == count
        return sum(
            q["sql"].startswith("SELECT") and '"alerts_alert"' in q["sql"]
            for q in queries.captured_queries
        )

    assert alert_reads(1, "one") == alert_reads(5, "five") == 1


def test_a_sample_that_fails_takes_its_evaluation_with_it(make_host, channel):
    channel()
    good, bad = online(make_host, "pve1"), online(make_host, "pve2")

    def fails_after_storing() -> None:
        ingest_pending(sample(bad, "DEGRADED"))
        raise RuntimeError("after the sample, before the commit")

    results = each_in_one_transaction(
        [lambda: ingest_pending(sample(good, "DEGRADED")), fails_after_storing]
    )
    assert isinstance(results[0], Stored) and isinstance(results[1], RuntimeError)
    assert list(Alert.objects.filter(rule="pool_health").values_list("host_id", flat=True)) == [
        good.pk
    ]
    assert Delivery.objects.count() == 1
    assert bad.pk not in engine._signatures


def test_a_known_host_whose_conditions_changed_is_evaluated_in_the_samples_commit(
    make_host, channel
):
    channel()
    host = online(make_host, "pve1")
    ingest_many([sample(host)])
    with CaptureQueriesContext(connection) as queries:
        ingest_many([sample(host, "DEGRADED", seq=2)])
    assert Alert.objects.get(rule="pool_health").state == "firing"
    assert any("alerts_alert" in q["sql"] for q in queries.captured_queries)
