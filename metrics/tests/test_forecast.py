"""When will it be full: the trend of constructed series, the status rule, the forecast job."""

from __future__ import annotations

import copy
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from metrics import forecast, rollups
from metrics.forecast import trend, words
from metrics.ingest import ingest
from metrics.models import Forecast
from metrics.status import WARNING, Thresholds, evaluate
from metrics.tests import frames

T0 = datetime(2026, 4, 1, tzinfo=UTC).timestamp()
TB = 1_000_000_000_000  # 1 TB
HOUR = 3600.0


def hourly(days: float, used) -> list[tuple[float, float]]:
    """Points every hour for `days` days, used(hours since start) bytes each."""
    return [(T0 + h * HOUR, used(h)) for h in range(int(days * 24) + 1)]


def test_linear_growth_is_full_when_the_line_reaches_the_capacity():
    # 500 GB used, 10 GB a day more: the remaining 300 GB at the end take 30 days
    points = hourly(20, lambda h: 500e9 + 10e9 * h / 24)
    found = trend(points, TB)
    assert found.state == "growing"
    assert found.bytes_per_day == pytest.approx(10e9)
    end = datetime.fromtimestamp(points[-1][0], UTC)
    assert found.full_at == pytest.approx(end + timedelta(days=30), abs=timedelta(seconds=1))
    assert found.r2 == pytest.approx(1.0)


def test_counts_from_the_newest_value_not_from_the_line():
    # growing 10 GB a day, then 100 GB freed an hour ago: 10 days more than the line says
    points = hourly(20, lambda h: 500e9 + 10e9 * h / 24)
    points[-1] = (points[-1][0], points[-1][1] - 100e9)
    found = trend(points, TB)
    assert found.state == "growing"
    days = (found.full_at - datetime.fromtimestamp(points[-1][0], UTC)).total_seconds() / 86400
    assert days == pytest.approx(40, rel=0.05)


def test_shrinking_says_no_date():
    found = trend(hourly(10, lambda h: 800e9 - 5e9 * h / 24), TB)
    assert found.state == "shrinking" and found.full_at is None
    assert found.bytes_per_day == pytest.approx(-5e9)


def test_flat_says_no_date():
    assert trend(hourly(10, lambda h: 400e9), TB).state == "flat"
    # 20 MB a day on 1 TB: 0.7 % a year, below the 1 % that counts as growth
    assert trend(hourly(10, lambda h: 400e9 + 20e6 * h / 24), TB).state == "flat"


def test_noisy_says_no_date():
    noise = random.Random(7)
    # a backup storage filled and pruned every night, creeping up slowly underneath
    found = trend(
        hourly(
            20,
            lambda h: (
                400e9
                + 1e9 * h / 24
                + 150e9 * math.sin(h / 24 * 2 * math.pi)
                + noise.uniform(-50e9, 50e9)
            ),
        ),
        TB,
    )
    assert found.state == "noisy" and found.full_at is None
    assert found.r2 < 0.5


def test_too_short_says_no_date():
    assert trend(hourly(0.9, lambda h: 500e9 + 1e9 * h), TB).state == "too_short"
    assert trend([(T0, 1.0), (T0 + 2 * 86400, 2.0)], TB).state == "too_short"  # 2 points
    assert trend(hourly(10, lambda h: 1.0), None).state == "too_short"  # capacity unknown


def test_already_full_is_full_now():
    found = trend(hourly(5, lambda h: 980e9 + 10e9 * h / 24), TB)  # 1.03 TB at the end
    assert found.full_at == datetime.fromtimestamp(T0 + 5 * 86400, UTC)


def test_words():
    assert words(0.4) == "full within a day"
    assert words(1.2) == "full in ~1 day"
    assert words(41.4) == "full in ~41 days"
    assert words(3 * 365) == "full in ~3 years"


# --- the status rule ----------------------------------------------------------------------


NOW = datetime(2026, 4, 21, 12, 0, tzinfo=UTC)


def facts(full_in_days: dict[str, float | None], state: str = "growing") -> dict:
    pool = {**frames.POOL, "name": "tank", "last_scrub_end": "2026-04-20T00:00:00Z"}
    storage = {**frames.STORAGE[0], "storage": "backup"}
    fast = {"received_at": "2026-04-21T12:00:00Z", "pools": [pool], "storage": [storage]}

    def one(days):
        at = NOW + timedelta(days=days)
        return {"state": state, "full_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}

    return {
        "fast": fast,
        "forecast": {
            "pools": {"tank": one(full_in_days["tank"])} if "tank" in full_in_days else {},
            "storage": {"backup": one(full_in_days["backup"])} if "backup" in full_in_days else {},
        },
    }


def reasons(facts_: dict, **thresholds) -> list:
    verdict = evaluate("online", NOW, 0.0, facts_, NOW, Thresholds(**thresholds))
    return [(r.level, r.text, r.rule, r.subject) for r in verdict.reasons]


def test_full_within_the_setting_is_a_warning_with_its_reason():
    found = reasons(facts({"tank": 12.3, "backup": 29.6}))
    assert (WARNING, "tank full in ~12 days", "pool_full_soon", "tank") in found
    assert (WARNING, "storage backup full in ~30 days", "storage_full_soon", "backup") in found


def test_full_beyond_the_setting_is_no_reason():
    assert reasons(facts({"tank": 30.5, "backup": 41})) == []
    assert reasons(facts({"tank": 30.5}), full_within_days=31)[0][2] == "pool_full_soon"


def test_no_growth_no_forecast_no_reason():
    assert reasons(facts({"tank": 3}, state="noisy")) == []
    plain = facts({})
    del plain["forecast"]
    assert reasons(plain) == []


def test_a_forecast_of_a_pool_that_is_gone_is_no_reason():
    gone = facts({"tank": 3})
    gone["fast"]["pools"] = []
    assert reasons(gone) == []


# --- the forecast job over real rollups --------------------------------------------------


def fast_with(allocated: int) -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    data["zfs_pools"]["pools"][0]["allocated"] = allocated
    return data


@pytest.mark.django_db
def test_refresh_forecasts_from_hourly_history(make_host):
    host, _ = make_host("pve1")
    start = NOW - timedelta(days=3)
    for i in range(3 * 24):  # one sample an hour, 5 GB more each day on a 1 TB pool
        when = start + timedelta(hours=i)
        frame = frames.sample("fast", i + 1, when, data=fast_with(int(600e9 + 5e9 * i / 24)))
        ingest(host.pk, host.token_hash, frame, when, None)
    rollups.roll_up()
    host.refresh_from_db()
    assert forecast.refresh(NOW) == 1
    data = Forecast.objects.get(host=host).data
    tank = data["pools"]["rpool"]
    assert tank["state"] == "growing"
    assert tank["bytes_per_day"] == pytest.approx(5e9, rel=1e-3)
    days = forecast.days_left(tank["full_at"], NOW)
    assert days == pytest.approx((1e12 - (600e9 + 5e9 * 71 / 24)) / 5e9, abs=0.1)
    # the storage's used bytes did not move
    assert data["storage"]["local-zfs"]["state"] == "flat"
