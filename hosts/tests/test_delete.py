"""Deleting a host that has reported: in the admin, in bulk, and with `manage.py delete_host`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from hosts.models import Host
from hosts.tests.reported import ROWS, report
from metrics.models import Guest, Keyframe, Kick, LatestSample, MetricPoint, Sample

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def reported_host(name: str) -> Host:
    host = Host.objects.create(name=name)
    report(host)
    return host


def rows_of(host_id: int) -> int:
    return sum(
        model.objects.filter(host_id=host_id).count()
        for model in (Sample, Keyframe, MetricPoint, LatestSample, Guest)
    )


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "", "a-strong-password-1")
    client.force_login(user)
    return client


def test_admin_deletes_a_host_that_reported_with_everything_derived(admin_client, settings):
    settings.PROXMON_PRUNE_CHUNK = 7  # several chunks per table
    host = reported_host("pve1")
    other = reported_host("pve2")
    before = rows_of(other.pk)
    url = f"/admin/hosts/host/{host.pk}/delete/"
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "protected" not in text.lower() and "Sample" not in text
    assert "Yes, I’m sure" in text and "its samples" in text
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Host.objects.filter(pk=host.pk).exists()
    assert rows_of(host.pk) == 0
    assert rows_of(other.pk) == before  # the other host keeps all of its own
    assert Kick.objects.filter(host_id=host.pk).exists()  # its agent is told to go


def test_admin_bulk_action_deletes_hosts_that_reported(admin_client):
    hosts = [reported_host(f"pve{i}") for i in range(3)]
    ids = [str(h.pk) for h in hosts[:2]]
    data = {"action": "delete_selected", "_selected_action": ids}
    confirm = admin_client.post("/admin/hosts/host/", data)
    assert confirm.status_code == 200 and "protected" not in confirm.content.decode().lower()
    response = admin_client.post("/admin/hosts/host/", {**data, "post": "yes"})
    assert response.status_code == 302
    assert list(Host.objects.values_list("name", flat=True)) == ["pve2"]
    assert all(rows_of(h.pk) == 0 for h in hosts[:2]) and rows_of(hosts[2].pk) > 0


def test_orm_delete_of_a_host_that_reported_works():
    host = reported_host("pve1")
    total, counts = host.delete()
    assert {label.split(".")[1]: n for label, n in counts.items() if label != "hosts.Host"} == ROWS
    assert counts["hosts.Host"] == 1 and total == sum(counts.values())
    assert rows_of(host.pk) == 0


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_delete_host_command_line_deletes_a_host_that_reported(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROXMON_PRUNE_CHUNK": "9",
    }
    assert manage("migrate", "-v0", env=env).returncode == 0
    for name in ("pve1", "pve2"):
        assert manage("add_host", name, env=env).returncode == 0
    shell = "from hosts.tests.reported import report\nfor h in Host.objects.all(): report(h)"
    assert manage("shell", "-c", "from hosts.models import Host\n" + shell, env=env).returncode == 0

    result = manage("delete_host", "PVE1", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines == [f"Deleted host pve1 and {sum(ROWS.values())} rows stored about it."]

    count = "from metrics.models import Sample, Keyframe\n" + (
        "print(Host.objects.count(), Sample.objects.count(), Keyframe.objects.count())"
    )
    counted = manage("shell", "-v0", "-c", "from hosts.models import Host\n" + count, env=env)
    assert counted.stdout.split() == ["1", "40", "4"]  # pve2's, untouched

    missing = manage("delete_host", "pve1", env=env)
    assert missing.returncode == 1
    assert "No host named 'pve1'" in missing.stderr and missing.stdout == ""
    usage = manage("delete_host", env=env)
    assert usage.returncode == 1 and "name" in usage.stderr


def test_samples_of_other_hosts_and_recent_kicks_survive_pruning():
    from metrics import liveness

    host = reported_host("pve1")
    Kick.objects.create(host_id=host.pk)
    Kick.objects.create(host_id=host.pk, created_at=timezone.now() - timedelta(hours=2))
    liveness.prune(hours=24 * 365)
    assert Kick.objects.count() == 1  # the old one is pruned with the samples
