"""The outbox and the sender: real Apprise json:// URLs against a real HTTP receiver."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerts import sender
from alerts.models import Alert, Channel, Delivery, Lease, Silence, Transition
from alerts.tests.conftest import evaluate, set_facts
from alerts.tests.receiver import Receiver

pytestmark = pytest.mark.django_db


def deliver_all(channel: Channel, rounds: int = 10) -> None:
    """Run the sender for the channel until nothing is pending (each round: what is due)."""
    for _ in range(rounds):
        sender.send_channel(channel.pk, now=timezone.now() + timedelta(days=1))
        Delivery.objects.filter(state="pending").update(next_attempt_at=timezone.now())
        if not Delivery.objects.filter(channel=channel, state="pending").exists():
            return


def test_degraded_pool_writes_alert_transition_and_message_together(host, channel):
    ops = channel()
    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    alert = Alert.objects.get(host=pve7, rule="pool_health", subject="tank")
    assert alert.state == "firing" and alert.notified
    assert list(Transition.objects.values_list("kind", flat=True)) == ["pending", "fired"]
    delivery = Delivery.objects.get(channel=ops)
    assert delivery.title == "pve7: tank DEGRADED"
    first = delivery.body.splitlines()[0]
    assert first.startswith("[critical] pve7: tank DEGRADED since ")
    assert first.endswith("(1 device not online)")
    assert delivery.body.splitlines()[-1] == "/hosts/pve7/"


def test_nothing_is_written_when_the_transaction_rolls_back(host, channel):
    channel()
    pve7 = host("pve7", health="DEGRADED")
    from alerts import engine

    with pytest.raises(RuntimeError), transaction.atomic():
        engine.evaluate_host(pve7.pk)
        raise RuntimeError("crash before commit")
    assert not Alert.objects.exists() and not Delivery.objects.exists()
    evaluate(pve7)  # the next evaluation finds the condition again
    assert Delivery.objects.count() == 1


def test_message_links_to_the_host_page_under_the_public_url(host, channel, settings):
    settings.PROXMON_PUBLIC_URL = "https://monitor.example.com"
    channel()
    evaluate(host("pve7", health="FAULTED"))
    body = Delivery.objects.get().body
    assert body.splitlines()[-1] == "https://monitor.example.com/hosts/pve7/"


def test_json_channel_receives_title_body_and_idempotency_key(host, channel):
    ops = channel()
    evaluate(host("pve7", health="DEGRADED"))
    assert sender.send_channel(ops.pk) == 1
    (request,) = ops.receiver.requests
    delivery = Delivery.objects.get()
    assert request["path"] == "/hook"
    assert request["json"]["title"] == "pve7: tank DEGRADED"
    assert "pve7: tank DEGRADED since" in request["json"]["message"]
    assert request["headers"]["Idempotency-Key"] == str(delivery.key)
    assert delivery.state == "delivered" and delivery.attempts == 1
    assert "HTTP 200" in delivery.answer
    ops.refresh_from_db()
    assert ops.last_ok_at is not None and not ops.failing


def test_pool_back_online_sends_one_resolved_message(host, channel):
    ops = channel()
    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    set_facts(pve7, health="ONLINE")
    evaluate(pve7)
    evaluate(pve7)
    deliver_all(ops)
    messages = [r["json"]["message"] for r in ops.receiver.requests]
    assert len(messages) == 2
    assert messages[1].startswith("[resolved] pve7: tank DEGRADED, since ")


def test_channel_answering_500_twice_then_200_gets_the_message_once(host, channel, settings):
    settings.PROXMON_ALERT_RETRY_BASE_S = 0.01
    ops = channel(receiver=Receiver([500, 500]))
    try:
        evaluate(host("pve7", health="DEGRADED"))
        deliver_all(ops)
        deliver_all(ops)  # and again: nothing left to send
    finally:
        ops.receiver.close()
    requests = ops.receiver.requests
    assert len(requests) == 3
    assert len({r["headers"]["Idempotency-Key"] for r in requests}) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == "delivered" and delivery.attempts == 3
    ops.refresh_from_db()
    assert not ops.failing and ops.last_error_at is not None


def test_failing_channel_backs_off_exponentially_and_shows_as_failing(host, channel, settings):
    settings.PROXMON_ALERT_RETRY_BASE_S = 10
    settings.PROXMON_ALERT_RETRY_MAX_S = 900
    ops = channel(receiver=Receiver([500] * 20))
    try:
        evaluate(host("pve7", health="DEGRADED"))
        waits = []
        for _ in range(8):
            before = timezone.now()
            sender.send_channel(ops.pk, now=before + timedelta(days=1))
            delivery = Delivery.objects.get()
            waits.append(round((delivery.next_attempt_at - before).total_seconds(), -1))
            Delivery.objects.update(next_attempt_at=timezone.now())
    finally:
        ops.receiver.close()
    assert waits == [10, 20, 40, 80, 160, 320, 640, 900]
    assert delivery.state == "pending" and delivery.attempts == 8  # never dropped
    ops.refresh_from_db()
    assert ops.failing and "HTTP 500" in ops.last_error


def test_retry_after_of_the_receiver_is_honoured(host, channel, settings):
    settings.PROXMON_ALERT_RETRY_BASE_S = 1
    ops = channel(receiver=Receiver([429], headers={"Retry-After": "300"}))
    try:
        evaluate(host("pve7", health="DEGRADED"))
        before = timezone.now()
        sender.send_channel(ops.pk)
    finally:
        ops.receiver.close()
    delivery = Delivery.objects.get()
    assert delivery.state == "pending"
    assert delivery.next_attempt_at >= before + timedelta(seconds=300)


def test_restart_between_transition_and_delivery_loses_nothing_and_sends_once(host, channel):
    ops = channel()
    evaluate(host("pve7", health="DEGRADED"))  # committed; then the process died
    dead, alive = uuid.uuid4(), uuid.uuid4()
    now = timezone.now()
    assert Lease.acquire("alerts", dead, 30, now - timedelta(seconds=60))
    assert not Lease.acquire("alerts", alive, 30, now - timedelta(seconds=45))
    assert Lease.acquire("alerts", alive, 30, now)  # the dead one's lease ran out
    assert sender.send_channel(ops.pk) == 1
    assert sender.send_channel(ops.pk, now=timezone.now() + timedelta(days=30)) == 0
    assert len(ops.receiver.requests) == 1


def test_crash_after_sending_before_marking_resends_with_the_same_key(host, channel):
    ops = channel()
    evaluate(host("pve7", health="DEGRADED"))
    delivery = Delivery.objects.get()
    # A sender claimed the attempt and sent, then died before marking it delivered.
    claimed_until = timezone.now() + timedelta(seconds=sender.CLAIM_S)
    Delivery.objects.update(next_attempt_at=claimed_until)
    sender.notify(ops.url, delivery.title, delivery.body, str(delivery.key))
    assert sender.send_channel(ops.pk) == 0  # claimed: nobody else sends it meanwhile
    assert sender.send_channel(ops.pk, now=claimed_until) == 1  # the claim ran out
    keys = [r["headers"]["Idempotency-Key"] for r in ops.receiver.requests]
    assert keys == [str(delivery.key)] * 2  # the receiver can drop the duplicate


def test_lease_has_one_holder_until_it_expires():
    a, b = uuid.uuid4(), uuid.uuid4()
    now = timezone.now()
    assert Lease.acquire("alerts", a, 30, now)
    assert not Lease.acquire("alerts", b, 30, now)
    assert Lease.acquire("alerts", a, 30, now + timedelta(seconds=20))  # renewed
    assert not Lease.acquire("alerts", b, 30, now + timedelta(seconds=40))
    assert Lease.acquire("alerts", b, 30, now + timedelta(seconds=51))
    assert not Lease.acquire("alerts", a, 30, now + timedelta(seconds=52))
    Lease.release("alerts", b)
    assert Lease.acquire("alerts", a, 30, now + timedelta(seconds=53))


def test_channel_url_secrets_are_masked_and_never_logged(host, channel, caplog, receivers):
    receiver = receivers([500])
    url = f"json://hookuser:pa55word-xyz@127.0.0.1:{receiver.port}/t0ken-s3cret-path"
    ops = channel(receiver=receiver, url=url)
    assert ops.masked_url == f"json://hookuser:****@127.0.0.1:{receiver.port}/…"
    caplog.set_level(logging.DEBUG)
    evaluate(host("pve7", health="DEGRADED"))
    sender.send_channel(ops.pk)
    ops.refresh_from_db()
    delivery = Delivery.objects.get()
    assert ops.failing and "500" in ops.last_error
    for text in (caplog.text, ops.last_error, delivery.answer):
        assert "t0ken-s3cret-path" not in text and "pa55word-xyz" not in text


def test_channel_min_level_and_tags_choose_what_it_gets(host, channel, settings):
    settings.PROXMON_ALERT_STALE_DELAY_S = 0
    everything = channel("everything")
    critical = channel("critical-only", min_level="critical")
    ceph = channel("ceph-team", tags="ceph")
    pve1 = host("pve1", capacity_pct=85.0)  # a warning
    settings.PROXMON_ALERT_POOL_CAPACITY_DELAY_S = 0
    evaluate(pve1)
    pve2 = host("pve2", health="DEGRADED", tags="ceph prod")
    evaluate(pve2)
    got = {
        c.name: sorted(Delivery.objects.filter(channel=c).values_list("host__name", flat=True))
        for c in (everything, critical, ceph)
    }
    assert got == {"everything": ["pve1", "pve2"], "critical-only": ["pve2"], "ceph-team": ["pve2"]}


def test_silenced_host_sends_nothing_and_its_alerts_still_fire(host, channel):
    channel()
    pve7 = host("pve7")
    Silence.objects.create(host=pve7, until=timezone.now() + timedelta(minutes=30), reason="x")
    set_facts(pve7, health="DEGRADED")
    evaluate(pve7)
    assert Alert.objects.get(rule="pool_health").state == "firing"
    assert not Delivery.objects.exists()


def test_webhook_with_a_signing_secret_carries_the_hmac_of_its_exact_body(host, channel):
    import hashlib
    import hmac

    ops = channel(signing_secret="shared-s3cret")
    plain = channel("plain")
    evaluate(host("pve7", health="DEGRADED"))
    sender.send_channel(ops.pk)
    sender.send_channel(plain.pk)
    (signed,) = ops.receiver.requests
    expected = hmac.new(b"shared-s3cret", signed["body"], hashlib.sha256).hexdigest()
    assert signed["headers"]["X-Proxmon-Signature"] == f"sha256={expected}"
    assert "X-Proxmon-Signature" not in plain.receiver.requests[0]["headers"]
