"""/hosts/<name>/series.json: the resolution each range reads, and what it returns."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.series import series
from hosts.models import Host
from metrics import rollups
from metrics.ingest import ingest
from metrics.models import Forecast
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


def fast(cpu: float, allocated: int) -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    data["host"]["cpu_percent"] = cpu
    data["zfs_pools"]["pools"][0]["allocated"] = allocated
    return data


@pytest.fixture
def history():
    """pve1 with a sample now, one 3 days ago, one 60 days ago and one 200 days ago."""
    host = Host.objects.create(name="pve1", token_hash="hash")
    now = timezone.now()
    ages = {"now": timedelta(0), "3d": timedelta(days=3), "60d": timedelta(days=60)}
    ages["200d"] = timedelta(days=200)
    for seq, (label, age) in enumerate(ages.items()):
        cpu = {"now": 10.0, "3d": 30.0, "60d": 60.0, "200d": 90.0}[label]
        frame = frames.sample("fast", seq + 1, now - age, data=fast(cpu, 100 * (seq + 1)))
        ingest(host.pk, "hash", frame, now - age, None)
    rollups.roll_up()
    return host


def get(client, query: str) -> dict:
    response = client.get(f"/hosts/pve1/series.json?{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


@pytest.mark.parametrize(
    ("range_", "source", "cpus"),
    [
        ("6h", "raw", [10.0]),
        ("24h", "raw", [10.0]),
        ("48h", "raw", [10.0]),
        ("7d", "5m", [30.0, 10.0]),
        ("30d", "5m", [30.0, 10.0]),
        ("90d", "1h", [60.0, 30.0, 10.0]),
        ("1y", "1h", [90.0, 60.0, 30.0, 10.0]),
    ],
)
def test_each_range_reads_its_resolution(user_client, history, range_, source, cpus):
    data = get(user_client, f"range={range_}")
    assert data["range"] == range_ and data["source"] == source
    assert data["host"]["cpu"] == cpus
    assert data["step"] == {"raw": None, "5m": 300, "1h": 3600}[source]
    if source != "raw":
        assert data["host"]["cpu_max"] == cpus
        assert all(t % data["step"] == 0 for t in data["host"]["t"])
    allocated = data["pools"]["rpool"]["allocated"]
    assert allocated == [400, 300, 200, 100][-len(allocated) :]
    assert data["pools"]["rpool"]["size"][-1] == frames.POOL["size"]
    assert data["storage"]["local-zfs"]["used"][-1] == 1000


def test_ranges_follow_shorter_retention_settings(user_client, history, settings):
    settings.PROXMON_RETENTION_HOURS = 12
    settings.PROXMON_HISTORY_5M_DAYS = 5
    assert get(user_client, "range=24h")["source"] == "5m"  # no raw samples that old
    assert get(user_client, "range=7d")["source"] == "1h"  # no 5-minute points that old


def test_a_guest_on_demand_from_the_hourly_points(user_client, history):
    data = get(user_client, "range=1y&guest=100")
    assert data["guest"]["vmid"] == 100 and len(data["guest"]["t"]) == 4
    assert data["guest"]["cpu"] == [1.5] * 4
    assert get(user_client, "range=7d&guest=999")["guest"]["t"] == []
    assert "guest" not in get(user_client, "range=7d")


def test_the_forecast_comes_along(user_client, history):
    Forecast.objects.create(host=history, data={"pools": {"rpool": {"state": "flat"}}})
    assert get(user_client, "range=30d")["forecast"]["pools"]["rpool"]["state"] == "flat"


def test_bad_input_is_refused_plainly(user_client, history):
    response = user_client.get("/hosts/pve1/series.json?range=2w")
    assert response.status_code == 400
    assert "range must be one of 6h, 24h, 48h, 7d, 30d, 90d, 1y" in response.json()["error"]
    assert user_client.get("/hosts/pve1/series.json?range=7d&guest=x").status_code == 400
    assert user_client.get("/hosts/nope/series.json?range=7d").status_code == 404


def test_login_is_required(client, history):
    response = client.get("/hosts/pve1/series.json?range=7d")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_points_before_the_range_are_left_out_of_a_row_that_holds_them():
    """A row holds an hour of 5-minute points or a UTC day of hourly ones: a range that starts
    inside the oldest row shows none of its older points."""
    host = Host.objects.create(name="pve1", token_hash="hash")
    now = datetime(2026, 4, 21, 12, 30, tzinfo=UTC)
    samples = [
        (timedelta(days=365, hours=2), 90.0),  # 10:30, a year and a day ago: same day's row
        (timedelta(days=365) - timedelta(hours=2), 40.0),  # 14:30
        (timedelta(days=7, minutes=10), 70.0),  # 12:20: same hour's row as the next
        (timedelta(days=7) - timedelta(minutes=10), 20.0),  # 12:40
    ]
    for seq, (age, cpu) in enumerate(samples):
        frame = frames.sample("fast", seq + 1, now - age, data=fast(cpu, 100))
        ingest(host.pk, "hash", frame, now - age, None)
    rollups.roll_up()
    week = series(host.pk, "7d", now)
    assert week["host"]["cpu"] == [20.0] and week["pools"]["rpool"]["t"] == week["host"]["t"]
    year = series(host.pk, "1y", now, guest=100)
    assert year["host"]["cpu"] == [40.0, 45.0]  # 12:20 and 12:40 are one hour
    assert year["host"]["t"][0] == int((now - samples[1][0]).timestamp()) // 3600 * 3600
    assert len(year["guest"]["t"]) == 2 and year["rootfs"]["t"] == year["host"]["t"]
    assert year["storage"]["local-zfs"]["t"] == year["host"]["t"]
