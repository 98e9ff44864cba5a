"""The "reboot needed for kernel X" rule (metrics/drift.py, metrics/status.py) at its
boundaries, switched off, and as an alert key with its own delay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.rules import RULES, Config, observe
from metrics.decode import validate_sample
from metrics.drift import reboot_kernel, version_key
from metrics.status import WARNING, Thresholds, evaluate
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA, SYSTEM, sample

RECEIVED = BASE_TIME + timedelta(seconds=1)
NOW = BASE_TIME + timedelta(seconds=10)
DEFAULTS = Thresholds()
RUNNING = "6.8.12-15-pve"  # pve/pveversion-8.4.14.txt's running kernel


def facts(**system) -> dict:
    """Facts of a host whose latest slow sample says `system` (fast tier: the frames' sample)."""
    slow = {**DATA["slow"]["system"], "kernel": RUNNING, **system}
    return {
        "fast": compact("fast", DATA["fast"], {}, BASE_TIME, RECEIVED, None),
        "slow": compact("slow", {"system": slow}, {}, BASE_TIME, RECEIVED, None),
    }


def reboot_reasons(facts_: dict, thresholds: Thresholds = DEFAULTS) -> list[str]:
    verdict = evaluate("online", NOW, 0.0, facts_, NOW, thresholds)
    found = [r for r in verdict.reasons if r.rule == "reboot_needed"]
    assert all(r.level == WARNING and r.subject == "" for r in found)
    return [r.text for r in found]


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        # the running kernel is the newest: nothing to do
        ({"kernel_newest": RUNNING}, []),
        # one patch level newer, compared as numbers (15 -> 16, and 9 -> 10 below)
        ({"kernel_newest": "6.8.12-16-pve"}, ["reboot needed for kernel 6.8.12-16-pve"]),
        ({"kernel_newest": "6.14.8-2-pve"}, ["reboot needed for kernel 6.14.8-2-pve"]),
        # running a kernel newer than any installed (its package removed): not a reason
        ({"kernel_newest": "6.8.12-9-pve"}, []),
        # pinned: the pin decides, newer installed kernels do not
        ({"kernel_newest": "6.17.2-1-pve", "kernel_pinned": RUNNING}, []),
        (
            {"kernel_newest": "6.17.2-1-pve", "kernel_pinned": "6.8.12-9-pve"},
            ["reboot needed for kernel 6.8.12-9-pve"],
        ),
        # unknown (an older agent, no /boot): silent
        ({}, []),
        ({"kernel_newest": None, "kernel_pinned": None}, []),
        ({"kernel": None, "kernel_newest": "6.17.2-1-pve"}, []),
    ],
)
def test_reboot_needed_at_its_boundaries(system, expected):
    assert reboot_reasons(facts(**system)) == expected


def test_version_key_compares_numbers_as_numbers():
    assert version_key("6.8.12-10-pve") > version_key("6.8.12-9-pve")
    assert version_key("6.14.8-2-pve") > version_key("6.8.12-15-pve")
    assert version_key("8.4.14") > version_key("8.4.9")
    assert sorted(["7.3-3", "9.1.1", "8.4.14"], key=version_key) == ["7.3-3", "8.4.14", "9.1.1"]


def test_switched_off_says_nothing(settings):
    settings.PROXMON_STATUS_REBOOT_NEEDED = False
    off = Thresholds.from_settings()
    assert off.reboot_needed is False
    assert reboot_reasons(facts(kernel_newest="6.17.2-1-pve"), off) == []
    settings.PROXMON_STATUS_REBOOT_NEEDED = True
    assert reboot_reasons(facts(kernel_newest="6.17.2-1-pve"), Thresholds.from_settings())


def test_reboot_kernel_without_facts_is_none():
    assert reboot_kernel({}) is None


def test_alert_key_and_delay(settings):
    assert "reboot_needed" in RULES
    settings.PROXMON_ALERT_REBOOT_NEEDED_DELAY_S = 1234.0
    assert Config.from_settings().delay("reboot_needed") == 1234.0
    seen = observe("online", NOW, 0.0, facts(kernel_newest="6.17.2-1-pve"), NOW, Thresholds(), 2.0)
    finding = seen.present[("reboot_needed", "")]
    assert finding.text == "reboot needed for kernel 6.17.2-1-pve"
    # without a slow sample the rule is unknown: an alert keeps its state, never resolves
    no_slow = facts()
    del no_slow["slow"]
    assert "reboot_needed" in observe("online", NOW, 0.0, no_slow, NOW, Thresholds(), 2.0).unknown


@pytest.mark.parametrize("key", ["kernel_newest", "kernel_pinned", "zfs_kmod", "zfs_userland"])
def test_drift_keys_are_optional_strings_in_the_schema(key):
    # older agents leave them out; a number or a long text is nacked with its path, as the
    # other versions are (a number would stop version_key on every page of that host)
    assert validate_sample(sample("slow", 1, data={"system": dict(SYSTEM)})) is None
    ok = dict(SYSTEM, **{key: None})
    assert validate_sample(sample("slow", 1, data={"system": ok})) is None
    bad = dict(SYSTEM, **{key: 6})
    assert validate_sample(sample("slow", 1, data={"system": bad})) == (
        f"data.system.{key}: expected a string"
    )
    long = dict(SYSTEM, **{key: "6" * 256})
    assert validate_sample(sample("slow", 1, data={"system": long})) == (
        f"data.system.{key}: expected at most 255 characters"
    )
