"""bench/frames.py: the shared templates bench.scale's fleets send are valid protocol v1 samples,
each host's own, with numbers that move between samples and raw output that does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bench.fleet import frame
from bench.frames import VARIANTS, SharedHost
from metrics.decode import SampleFrame, decode_frame

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
SCENARIOS = ("healthy", "degraded", "full", "stale-snapshots", "updates")


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("tier", ["fast", "medium", "slow"])
def test_every_template_decodes_with_and_without_raw(scenario, tier):
    host = SharedHost(3, "pve-x-03", scenario)
    data, raw, same = host.payload(tier, NOW)
    assert isinstance(decode_frame(frame(1, tier, NOW, data)), SampleFrame)
    if same is not None:  # fast (zpool) and medium (zfs list) carry raw output
        assert raw and '"raw_same":true' in same() and '"raw_same"' not in data
        assert isinstance(decode_frame(frame(2, tier, NOW, same())), SampleFrame)


def test_hosts_of_one_template_are_their_own():
    one, other = SharedHost(1, "pve-a", "healthy"), SharedHost(1 + VARIANTS, "pve-b", "healthy")
    assert one.template is other.template
    a, b = (json.loads(h.payload("medium", NOW)[0])["guest_configs"] for h in (one, other))
    assert [g["name"] for g in a] == [g["name"] for g in b]  # the same layout
    assert {ip for g in a for ip in g["ips"]}.isdisjoint(ip for g in b for ip in g["ips"])
    assert {m for g in a for m in g["macs"]}.isdisjoint(m for g in b for m in g["macs"])
    fast = [json.loads(h.payload("fast", NOW)[0])["host"] for h in (one, other)]
    assert [f["hostname"] for f in fast] == ["pve-a", "pve-b"]
    assert fast[0]["cpu_percent"] != fast[1]["cpu_percent"]  # not in lockstep


def test_numbers_move_a_little_and_raw_stays():
    host = SharedHost(5, "pve-y", "healthy")
    samples = [host.payload("fast", NOW + timedelta(seconds=30 * i)) for i in range(20)]
    assert len({raw for _, raw, _ in samples}) == 1  # an idle host's zpool output
    parsed = [json.loads(text) for text, _, _ in samples]
    cpus = [p["host"]["cpu_percent"] for p in parsed]
    assert len(set(cpus)) > 5 and max(cpus) - min(cpus) < 10
    for before, after in zip(parsed, parsed[1:], strict=False):
        assert after["host"]["uptime_s"] - before["host"]["uptime_s"] == 30
        mem = after["host"]["mem"]
        assert mem["used"] + mem["available"] == mem["total"]
        assert before["guests"] != after["guests"]
