"""The alert worker's rest between the slices of a paced sweep (the thread itself runs in the
real servers of test_e2e.py)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import background
from alerts.models import Lease
from metrics import liveness


@pytest.fixture
def worker(db):
    worker = background.Worker()
    yield worker
    worker.pool.shutdown(wait=True)


def test_rest_waits_and_goes_on_while_the_lease_is_held(worker):
    assert worker.keep_lease(*_now())
    worker.rest(0.01)  # nothing to send, lease held: back to the sweep


def test_a_stopping_server_interrupts_the_sweep_at_its_next_rest(worker):
    worker.keep_lease(*_now())
    worker.stop_event.set()
    worker.wake_event.set()
    with pytest.raises(background.Interrupted):
        worker.rest(10)


def test_a_process_that_lost_the_lease_stops_sweeping(worker):
    assert worker.keep_lease(*_now())
    Lease.objects.filter(name=background.LEASE).update(
        holder=uuid.uuid4(), expires_at=timezone.now() + timedelta(seconds=60)
    )
    worker.next_lease = 0.0  # the renewal is due
    with pytest.raises(background.Interrupted):
        worker.rest(0.01)
    assert not worker.holder
    assert Lease.objects.get(name=background.LEASE).holder != liveness.PROCESS_ID


def _now():
    return timezone.now(), time.monotonic()


def test_a_long_sweep_is_followed_by_the_next_after_ten_times_its_work(
    worker, host, settings, monkeypatch
):
    from alerts import engine

    settings.PROXMON_ALERT_SWEEP_S = 0.0  # the work decides
    monkeypatch.setattr(engine, "SLICE_S", 0.0)  # a rest after every host
    for n in range(3):
        host(f"pve{n}")
    before = time.monotonic()
    worker.round()
    assert worker.swept_s > 0
    assert worker.next_sweep >= before + worker.swept_s / background.SWEEP_SHARE
