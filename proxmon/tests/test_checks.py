"""Settings that load but are wrong stop `manage.py check` (and so migrate and serve), naming
the variable, every problem at once, without a traceback (proxmon/checks.py)."""

from __future__ import annotations

import subprocess

import pytest

from proxmon.checks import ORDERS
from proxmon.tests.test_settings import manage

KEY = "k" * 60


def refused(result: subprocess.CompletedProcess, check_id: str) -> list[str]:
    """The lines of `check_id`'s messages; the command failed without a traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if f"({check_id})" in line]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("PROXMON_RETENTION_HOURS", "0", "must be at least 1"),
        ("PROXMON_STATUS_POOL_WARNING_PCT", "120", "must be at most 100"),
        ("PROXMON_STATUS_POOL_CRITICAL_PCT", "-1", "must be at least 0"),
        ("PROXMON_STATUS_STORAGE_FULL_PCT", "101", "must be at most 100"),
        ("PROXMON_ALERT_HYSTERESIS_PCT", "-2", "must be at least 0"),
        ("PROXMON_ALERT_DELAY_S", "-600", "must be at least 0"),
        ("PROXMON_ALERT_OFFLINE_DELAY_S", "-1", "must be at least 0"),
        ("PROXMON_PING_INTERVAL_S", "0", "must be at least 0.1"),
        ("PROXMON_PING_TIMEOUT_S", "0", "must be at least 0.1"),
        ("PROXMON_PRUNE_INTERVAL_S", "0", "must be at least 1"),
        ("PROXMON_TOKEN_BCRYPT_ROUNDS", "3", "must be at least 4"),
        ("PROXMON_SQLITE_BUSY_TIMEOUT_S", "0.5", "must be at least 1"),
        ("PROXMON_ALERT_REPEAT_HOURS", "0", "must be at least 0.001"),
        ("PROXMON_HISTORY_5M_DAYS", "0", "must be at least 1"),
        ("PROXMON_HISTORY_1H_DAYS", "0", "must be at least 1"),
        ("PROXMON_STATUS_FULL_WITHIN_DAYS", "0.5", "must be at least 1"),
        ("PROXMON_PORT", "70000", "must be at most 65535"),
    ],
)
def test_value_out_of_bounds_is_refused_naming_the_variable(variable, value, reason):
    [line] = refused(manage("check", SECRET_KEY=KEY, **{variable: value}), "proxmon.E002")
    assert f"{variable}={value!r}: {reason}" in line


def test_every_problem_is_listed_at_once():
    result = manage(
        "check",
        SECRET_KEY=KEY,
        PROXMON_RETENTION_HOURS="0",
        PROXMON_PING_TIMEOUT_S="0",
        PROXMON_TRUSTED_PROXIES="caddy",
    )
    named = refused(result, "proxmon.E002") + refused(result, "proxmon.E004")
    assert len(named) == 3
    for variable in ("PROXMON_RETENTION_HOURS", "PROXMON_PING_TIMEOUT_S", "PROXMON_TRUSTED"):
        assert any(variable in line for line in named), named


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_cannot_load(value):
    result = manage("check", SECRET_KEY=KEY, PROXMON_ALERT_DELAY_S=value)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"PROXMON_ALERT_DELAY_S={value!r}: expected a finite number" in line


@pytest.mark.parametrize("order", ORDERS, ids=[f"{o.lower}-{o.higher}" for o in ORDERS])
def test_settings_in_the_wrong_order_are_named_both(order):
    # 100 against 30: wrong for every order (a third of 30 is 10), within every bound
    result = manage("check", SECRET_KEY=KEY, **{order.lower: "100", order.higher: "30"})
    if order.id.startswith("proxmon.W"):
        # a warning: shown at every start, but the server runs
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if f"({order.id})" in line]
    else:
        lines = refused(result, order.id)
    [line] = [line for line in lines if f"{order.lower}=100 must be" in line and order.why in line]
    assert f" {order.higher}" in line
    assert order.why in line


def test_equal_thresholds_are_refused_and_lower_ones_pass():
    equal = manage(
        "check",
        SECRET_KEY=KEY,
        PROXMON_STATUS_POOL_WARNING_PCT="90",
        PROXMON_STATUS_POOL_CRITICAL_PCT="90",
    )
    [line] = refused(equal, "proxmon.E003")
    assert (
        "PROXMON_STATUS_POOL_WARNING_PCT=90 must be below PROXMON_STATUS_POOL_CRITICAL_PCT=90"
        in (line)
    )
    fine = manage(
        "check",
        SECRET_KEY=KEY,
        PROXMON_STATUS_POOL_WARNING_PCT="85",
        PROXMON_STATUS_POOL_CRITICAL_PCT="95",
        PROXMON_ALERT_RETRY_BASE_S="900",  # equal to the maximum: one fixed wait, allowed
    )
    assert fine.returncode == 0, fine.stderr


@pytest.mark.parametrize("item", ["caddy", "10.0.0.0/33", "127.0.0.1:8000", "fd00::/129"])
def test_trusted_proxy_that_is_no_address_is_refused_at_start(item):
    result = manage("check", SECRET_KEY=KEY, PROXMON_TRUSTED_PROXIES=f"127.0.0.1,{item}")
    [line] = refused(result, "proxmon.E004")
    assert f"PROXMON_TRUSTED_PROXIES: {item!r} is not an IP address or network" in line


def test_trusted_proxies_as_addresses_and_networks_pass():
    result = manage(
        "check", SECRET_KEY=KEY, PROXMON_TRUSTED_PROXIES="127.0.0.1, ::1,10.0.0.0/8,fd00::/64"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("hc-ping.com/5e1c1b0f-secret", "needs https:// or http://"),
        ("https:///5e1c1b0f-secret", "needs a host name"),
        ("https://hc-ping.com:port/5e1c1b0f-secret", "not a valid URL"),
    ],
)
def test_bad_heartbeat_url_is_refused_without_showing_it(url, reason):
    [line] = refused(manage("check", SECRET_KEY=KEY, PROXMON_HEARTBEAT_URL=url), "proxmon.E005")
    assert f"PROXMON_HEARTBEAT_URL: {reason}" in line
    result = manage("check", SECRET_KEY=KEY, PROXMON_HEARTBEAT_URL=url)
    assert "secret" not in result.stderr + result.stdout


def test_defaults_pass_every_check_with_no_warning():
    result = manage("check", "--fail-level", "WARNING", SECRET_KEY=KEY)
    assert result.returncode == 0, result.stderr
    assert "proxmon." not in result.stderr
