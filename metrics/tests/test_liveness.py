"""No host stays online without a live connection; old samples go in bounded chunks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from hosts.models import Host
from metrics import liveness
from metrics.models import Sample, ServerProcess

pytestmark = pytest.mark.django_db


def online_host(name: str, server_id) -> Host:
    return Host.objects.create(
        name=name, status=Host.Status.ONLINE, connection_id=uuid.uuid4(), server_id=server_id
    )


def test_hosts_of_a_process_with_a_stale_heartbeat_go_offline():
    dead = ServerProcess.objects.create(
        hostname="other-box", pid=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    alive = ServerProcess.objects.create(hostname="other-box", pid=2)
    online_host("pve1", dead.id)
    online_host("pve2", alive.id)
    assert liveness.sweep() == 1
    assert Host.objects.get(name="pve1").status == Host.Status.OFFLINE
    assert Host.objects.get(name="pve1").server_id is None
    assert Host.objects.get(name="pve2").status == Host.Status.ONLINE
    assert not ServerProcess.objects.filter(id=dead.id).exists()


def test_a_crashed_process_on_this_machine_is_found_at_once_by_its_pid():
    """A restart right after a crash: the old heartbeat is fresh, but its pid is gone."""
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    crashed = ServerProcess.objects.create(hostname=liveness.HOSTNAME, pid=gone.pid)
    online_host("pve1", crashed.id)
    liveness.register()
    assert liveness.sweep() == 1
    assert Host.objects.get(name="pve1").status == Host.Status.OFFLINE


def test_hosts_online_without_any_server_process_go_offline():
    online_host("pve1", uuid.uuid4())
    online_host("pve2", None)
    assert liveness.sweep() == 2
    assert set(Host.objects.values_list("status", flat=True)) == {Host.Status.OFFLINE}


def test_own_hosts_stay_online_and_release_takes_them_offline():
    liveness.register()
    online_host("pve1", liveness.PROCESS_ID)
    assert liveness.sweep() == 0
    assert liveness.release() == 1
    assert Host.objects.get().status == Host.Status.OFFLINE
    assert not ServerProcess.objects.filter(id=liveness.PROCESS_ID).exists()


def test_heartbeat_registers_again_after_being_swept():
    liveness.register()
    ServerProcess.objects.all().delete()
    liveness.heartbeat()
    assert ServerProcess.objects.filter(id=liveness.PROCESS_ID).exists()


def test_never_connected_and_offline_hosts_are_left_alone():
    Host.objects.create(name="new")
    Host.objects.create(name="old", status=Host.Status.OFFLINE)
    assert liveness.sweep() == 0


# --- retention ------------------------------------------------------------------------------


def make_samples(host, ages_h):
    """Samples received when collected: on PostgreSQL the rollup pass leaves the newest
    PROXMON_HISTORY_SETTLE_S of receipts alone (metrics/rollups.py), and retention keeps what it
    has not rolled up, so samples stamped as received just now would never be pruned here."""
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(
            host=host,
            tier="fast",
            collected_at=now - timedelta(hours=age),
            received_at=now - timedelta(hours=age),
            body=b"",
        )
        for age in ages_h
    )


def test_prune_deletes_only_old_samples_in_chunks():
    host = Host.objects.create(name="pve1")
    make_samples(host, [49 + i / 100 for i in range(25)] + [1, 2, 47.9])
    rounds = []

    def should_stop():
        rounds.append(1)
        return False

    before = timezone.now() - timedelta(hours=48)
    assert Sample.objects.prune(before, chunk=10, should_stop=should_stop) == 25
    assert Sample.objects.count() == 3
    assert len(rounds) == 4  # 10 + 10 + 5, then one that finds nothing


def test_prune_pauses_after_each_full_chunk_for_waiting_writers(monkeypatch, settings):
    settings.PROXMON_PRUNE_PAUSE_S = 0.25
    host = Host.objects.create(name="pve1")
    make_samples(host, [49 + i / 100 for i in range(25)])
    pauses: list[float] = []
    monkeypatch.setattr("metrics.models.time.sleep", pauses.append)
    assert Sample.objects.prune(timezone.now() - timedelta(hours=48), chunk=10) == 25
    assert pauses == [0.25, 0.25]  # after 10 and 10; the chunk of 5 was the last


def test_prune_stops_when_asked_between_chunks():
    host = Host.objects.create(name="pve1")
    make_samples(host, [50 + i / 100 for i in range(30)])
    calls = iter([False, True])
    deleted = Sample.objects.prune(timezone.now(), chunk=10, should_stop=lambda: next(calls))
    assert deleted == 10
    assert Sample.objects.count() == 20


def test_background_prune_uses_the_retention_setting(settings):
    settings.PROXMON_RETENTION_HOURS = 2
    host = Host.objects.create(name="pve1")
    make_samples(host, [1, 3, 5])
    assert liveness.prune() == 2


def test_prune_samples_command_reports_the_count():
    host = Host.objects.create(name="pve1")
    make_samples(host, [1, 10, 30, 50, 60])
    out = StringIO()
    call_command("prune_samples", stdout=out)
    assert "Deleted 2 samples" in out.getvalue()
    call_command("prune_samples", "--older-than", "5", stdout=out)
    assert "Deleted 2 samples" in out.getvalue().splitlines()[-1]
    assert Sample.objects.count() == 1


def test_prune_samples_rejects_a_bad_window():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_samples", "--older-than", "0")


def test_prune_keeps_keyframes_that_stored_samples_still_need():
    from metrics.models import Keyframe

    host = Host.objects.create(name="pve1")
    old = timezone.now() - timedelta(hours=60)
    unused = Keyframe.objects.create(host=host, tier="fast", created_at=old, data=b"")
    needed = Keyframe.objects.create(host=host, tier="fast", created_at=old, data=b"")
    recent = Keyframe.objects.create(host=host, tier="fast", data=b"")
    Sample.objects.create(
        host=host, tier="fast", collected_at=timezone.now(), keyframe=needed, body=b""
    )
    assert Keyframe.objects.prune(timezone.now() - timedelta(hours=48)) == 1
    assert set(Keyframe.objects.values_list("id", flat=True)) == {needed.id, recent.id}
    assert not Keyframe.objects.filter(id=unused.id).exists()
