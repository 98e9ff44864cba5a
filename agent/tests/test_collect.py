import asyncio
import json
import logging
import math
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent import collect
from agent.collect import collect_forever, collect_tier, sample, serialize
from agent.collectors import COLLECTORS, TIERS, guests, host, system
from agent.machine import Machine
from agent.tests import fakehost
from metrics.decode import validate_sample  # the server's own check: the contract

REPO = Path(__file__).resolve().parents[2]
RFC3339_MS = "%Y-%m-%dT%H:%M:%S.%fZ"


class QuickMachine(Machine):
    """Commands time out after 0.5 s instead of 10-60 s, so a hanging zpool costs 0.5 s."""

    def run(self, argv, *, timeout=20.0, env=None):
        return super().run(argv, timeout=min(timeout, 0.5), env=env)


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """Each test is a new agent process: nothing said yet, no 0.5 s first CPU reading."""
    monkeypatch.setattr(collect, "_not_applicable", set())
    monkeypatch.setattr(collect, "_failing", {})
    monkeypatch.setattr(host, "FIRST_READING_GAP_S", 0.01)


def build(tmp_path, scenario="healthy", guests=3, pmxcfs="pve9"):
    fake = fakehost.build(tmp_path / scenario, scenario, guests, pmxcfs=pmxcfs)
    return fake, QuickMachine(root=fake.root, path=str(fake.bin))


def test_collectors_are_an_explicit_tuple_covering_every_tier():
    assert isinstance(COLLECTORS, tuple)
    by_tier = {tier: [m.SOURCE for m in COLLECTORS if tier == m.TIER] for tier in TIERS}
    assert by_tier == {
        "fast": ["host", "storage", "zfs_pools", "guests"],
        "medium": ["datasets", "guest_configs", "backups", "replication"],
        "slow": ["system", "disks"],
    }


@pytest.mark.parametrize("scenario", fakehost.SCENARIOS)
def test_every_tier_of_every_scenario_is_a_valid_sample(tmp_path, scenario):
    _, machine = build(tmp_path, scenario)
    for seq, tier in enumerate(TIERS, 1):
        frame = json.loads(serialize(sample(machine, tier, seq)))
        assert validate_sample(frame) is None, (tier, frame["errors"])
        assert frame["seq"] == seq and frame["tier"] == tier


def test_healthy_host_has_every_source_and_no_error(tmp_path):
    _, machine = build(tmp_path)
    data = {}
    for tier in TIERS:
        part, errors = collect_tier(machine, tier)
        assert errors == {}
        data.update(part)
    assert set(data) == {m.SOURCE for m in COLLECTORS} | {"via"}
    assert data["via"] == {"storage": "pmxcfs", "guests": "pmxcfs"}
    assert [pool["health"] for pool in data["zfs_pools"]["pools"]] == ["ONLINE", "ONLINE"]
    assert [guest["vmid"] for guest in data["guests"]] == [100, 101, 102]
    assert [guest["name"] for guest in data["guest_configs"]] == [
        "test-qemu-100",
        "test-lxc-101",
        "second-vm-102",
    ]
    assert data["guest_configs"][0]["ips_source"] == "agent"  # the running VM's guest agent
    assert data["system"]["pending_updates"] == 181


def test_degraded_pool_mid_resilver_on_pre_json_zfs(tmp_path):
    fake, machine = build(tmp_path, "degraded")
    data, errors = collect_tier(machine, "fast")
    assert errors == {}
    [pool] = data["zfs_pools"]["pools"]
    assert pool["health"] == "DEGRADED"
    assert pool["scan"]["function"] == "resilver" and pool["scan"]["state"] == "scanning"
    assert pool["scan"]["progress_pct"] == 57.17
    assert pool["degraded_vdevs"] == 1
    assert "zpool status -p" in fake.calls()  # the text fallback of OpenZFS < 2.3


def test_no_zfs_is_not_applicable_and_said_once(tmp_path, caplog):
    _, machine = build(tmp_path, "nozfs")
    with caplog.at_level(logging.INFO, logger="proxmon.agent"):
        for _ in range(3):
            fast, fast_errors = collect_tier(machine, "fast")
            medium, medium_errors = collect_tier(machine, "medium")
    assert "zfs_pools" not in fast and "zfs_pools" not in fast_errors
    assert "datasets" not in medium and "datasets" not in medium_errors
    assert set(fast) == {"host", "storage", "guests", "via"}
    said = [r.getMessage() for r in caplog.records if "not applicable" in r.getMessage()]
    assert said == [
        "zfs_pools: not applicable: zpool is not installed",
        "datasets: not applicable: zfs is not installed",
    ]


def test_hanging_zpool_is_an_error_entry_and_the_rest_is_kept(tmp_path):
    _, machine = build(tmp_path, "hang")
    started = time.monotonic()
    data, errors = collect_tier(machine, "fast")
    assert time.monotonic() - started < 5
    assert errors == {"zfs_pools": "zpool status -j: timed out after 0.5 s"}
    assert set(data) == {"host", "storage", "guests", "via"}


def test_garbage_from_zpool_is_an_error_entry(tmp_path, caplog):
    _, machine = build(tmp_path, "garbage")
    with caplog.at_level(logging.WARNING, logger="proxmon.agent"):
        for _ in range(3):
            data, errors = collect_tier(machine, "fast")
    assert errors["zfs_pools"].startswith("zpool status: invalid JSON")
    assert "zfs_pools" not in data and "host" in data
    # A failing source is logged when it starts failing, not every cycle.
    assert sum("zfs_pools: failing" in r.getMessage() for r in caplog.records) == 1


def test_a_collector_bug_is_an_error_entry_with_a_logged_traceback(tmp_path, monkeypatch, caplog):
    _, machine = build(tmp_path)

    def broken(machine):
        return {}["missing"]

    monkeypatch.setattr(guests, "collect", broken)
    with caplog.at_level(logging.ERROR, logger="proxmon.agent"):
        data, errors = collect_tier(machine, "fast")
    assert errors == {"guests": "internal error: KeyError: 'missing'"}
    assert {"host", "storage", "zfs_pools"} <= set(data)
    assert "Traceback" in caplog.text and "broken" in caplog.text


def test_a_value_json_cannot_carry_fails_its_source_only(tmp_path, monkeypatch):
    _, machine = build(tmp_path)
    monkeypatch.setattr(system, "collect", lambda machine: {"pending_updates": math.nan})
    data, errors = collect_tier(machine, "slow")
    assert set(data) == {"disks"}  # the tier's other source is kept
    assert errors["system"].startswith("internal error: ValueError: Out of range float")


@pytest.mark.parametrize("pmxcfs", ["pve9", "pve8", None])
@pytest.mark.parametrize("scenario", ["healthy", "degraded"])
def test_processes_per_fast_cycle_do_not_grow_with_guests(tmp_path, scenario, pmxcfs):
    spawned = {}
    for count in (3, 300):
        fake, machine = build(tmp_path / str(count), scenario, guests=count, pmxcfs=pmxcfs)
        collect_tier(machine, "fast")  # the first cycle may probe for ZFS JSON support
        before, calls = machine.spawned, len(fake.calls())
        data, errors = collect_tier(machine, "fast")
        assert errors == {} and len(data["guests"]) == count
        spawned[count] = machine.spawned - before
        programs = sorted(call.split()[0] for call in fake.calls()[calls:])
        via = "pmxcfs" if pmxcfs else "pvesh"
        assert data["via"] == {"storage": via, "guests": via}
    if pmxcfs:  # zpool twice (status, list); guests and storage from /etc/pve: no pvesh
        assert spawned == {3: 2, 300: 2} and programs == ["zpool", "zpool"]
    else:  # without /etc/pve/.rrd: pvesh twice (storage, guests) besides
        assert spawned == {3: 4, 300: 4} and programs == ["pvesh", "pvesh", "zpool", "zpool"]


@pytest.mark.parametrize("pmxcfs", ["pve9", "pve8"])
def test_pmxcfs_files_give_what_pvesh_gave(tmp_path, pmxcfs):
    """The same host read both ways: the sample is the same but for `via`."""
    fast = {}
    for how in (pmxcfs, None):
        _, machine = build(tmp_path / str(how), guests=5, pmxcfs=how)
        data, errors = collect_tier(machine, "fast")
        assert errors == {}
        fast[how] = data
    assert fast[pmxcfs]["guests"] == fast[None]["guests"]
    assert fast[pmxcfs]["storage"] == fast[None]["storage"]
    running = [guest["vmid"] for guest in fast[None]["guests"] if guest["status"] == "running"]
    assert running == [fakehost.RUNNING_VMID, fakehost.RUNNING_LXC]


def test_collected_at_is_when_collection_started(tmp_path, monkeypatch):
    _, machine = build(tmp_path)
    monkeypatch.setattr(host, "FIRST_READING_GAP_S", 0.3)
    before = time.time()
    frame = sample(machine, "fast", 7)
    after = time.time()
    moment = datetime.strptime(frame["collected_at"], RFC3339_MS).replace(tzinfo=UTC)
    collected = moment.timestamp()
    assert before - 0.01 <= collected <= before + 0.1 < after - 0.2
    assert frame["collected_at"].endswith("Z") and len(frame["collected_at"]) == 24


async def test_each_tier_is_collected_at_once_and_then_on_its_interval(tmp_path, monkeypatch):
    _, machine = build(tmp_path)
    delivered = []

    def deliver(*args):
        delivered.append(args)
        if len(delivered) == 1:
            raise RuntimeError("a bug in delivery")  # logged; the tier goes on

    monkeypatch.setattr(collect, "collect_tier", lambda machine, tier: ({"tier": tier}, {}))
    tasks = [
        asyncio.create_task(collect_forever(machine, tier, interval, deliver))
        for tier, interval in (("fast", 0.05), ("slow", 10))
    ]
    await asyncio.sleep(0.23)
    for task in tasks:
        task.cancel()
    tiers = [args[0] for args in delivered]
    assert tiers.count("slow") == 1  # right at start
    assert 3 <= tiers.count("fast") <= 6  # at 0, 0.05, 0.10, 0.15, 0.20 s
    assert tiers.index("slow") < 2


def run_cli(fake, *args):
    return subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--once", "--root", str(fake.root), *args],
        cwd=REPO,
        env={**fake.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_collect_once_prints_one_json_object_with_every_tier(tmp_path):
    fake = fakehost.build(tmp_path / "host", "nozfs", 3)
    result = run_cli(fake)
    assert result.returncode == 0, result.stderr
    samples = json.loads(result.stdout)
    assert list(samples) == ["fast", "medium", "slow"]
    for tier, frame in samples.items():
        assert frame["type"] == "sample" and frame["tier"] == tier
        assert validate_sample(frame) is None
    assert "zfs_pools: not applicable: zpool is not installed" in result.stderr


def test_collect_once_for_one_tier(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    result = run_cli(fake, "--tier", "slow")
    assert result.returncode == 0, result.stderr
    samples = json.loads(result.stdout)
    assert list(samples) == ["slow"]
    assert samples["slow"]["data"]["system"]["pve_version"] == "8.4.14"
