"""The demo fleet (scripts/demo, bench/payloads.py, bench/fleet.py) is one believable fleet:
each host the same machine in every source, its history one line, each scenario what the
README promises. Built in-process, without servers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.fleet import SimulatedAgent, Stats, parser
from bench.payloads import DEMO_FLEET, Host, rfc3339
from metrics.decode import validate_sample
from metrics.status import CRITICAL, OK, WARNING, Thresholds, evaluate
from metrics.summary import compact

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
TIERS = ("fast", "medium", "slow")


def demo_hosts() -> list[Host]:
    return [
        Host(i, name, scenario, guests) for i, (name, scenario, guests) in enumerate(DEMO_FLEET)
    ]


@pytest.fixture(scope="module")
def samples() -> dict[str, tuple[Host, dict[str, dict]]]:
    """Per host name: the host and its data of each tier, collected now."""
    return {host.name: (host, {t: host.data(t, NOW) for t in TIERS}) for host in demo_hosts()}


def test_scripts_demo_runs_the_fleet_the_tests_check():
    script = (ROOT / "scripts" / "demo").read_text()
    assert "DEMO_FLEET" in script
    assert "--backfill-hours" in script


def test_hosts_are_named_like_a_real_fleet(samples):
    assert len(samples) == 9
    for name, (_, data) in samples.items():
        assert re.fullmatch(r"pve-[a-z]{3}-\d{2}", name)
        assert data["fast"]["host"]["hostname"] == name


def test_samples_validate_with_the_servers_schema(samples):
    for name, (_, data) in samples.items():
        for tier in TIERS:
            frame = {
                "type": "sample",
                "seq": 1,
                "tier": tier,
                "collected_at": rfc3339(NOW),
                "data": json.loads(json.dumps(data[tier])),
                "errors": {},
            }
            assert validate_sample(frame) is None, (name, tier)


def test_every_pool_has_a_size_and_holds_its_datasets(samples):
    for name, (_, data) in samples.items():
        pools = {p["name"]: p for p in data["fast"]["zfs_pools"]["pools"]}
        assert pools, name
        for pool in pools.values():
            size, allocated, free = pool["size"], pool["allocated"], pool["free"]
            assert isinstance(size, int) and isinstance(allocated, int), (name, pool["name"])
            assert 0 < allocated < size and allocated + free == size
            assert pool["capacity_pct"] == round(100 * allocated / size)
        found = data["medium"]["datasets"]["datasets"]
        assert found, name
        for dataset in found:
            pool = dataset["name"].split("/")[0]
            assert pool in pools, (name, dataset["name"])
        for top in (d for d in found if "/" not in d["name"]):
            # what a pool's datasets use fits in what the pool has allocated
            assert top["used"] <= pools[top["name"]]["allocated"], (name, top["name"])
        # snapshots are on this host's pools, not on a pool it does not have
        snapshotted = {d["name"].split("/")[0] for d in found if d["snapshot_count"]}
        assert snapshotted and snapshotted <= set(pools), name


def test_storages_are_named_as_on_a_real_proxmox_host(samples):
    for name, (_, data) in samples.items():
        storages = data["fast"]["storage"]
        names = [s["storage"] for s in storages]
        assert len(names) == len(set(names)), name
        assert {"local", "local-zfs"} <= set(names), name
        for storage in storages:
            # no clones numbered local-3, vmdata-5
            assert not re.search(r"-\d+$", storage["storage"]), (name, storage["storage"])
            assert 0 < storage["used"] < storage["total"], (name, storage["storage"])
        pools = {p["name"] for p in data["fast"]["zfs_pools"]["pools"]}
        zfspools = {s["storage"] for s in storages if s["type"] == "zfspool"} - {"local-zfs"}
        assert zfspools <= pools, name  # a zfspool storage per data pool, named after it


def test_guest_config_and_runtime_agree(samples):
    for name, (_, data) in samples.items():
        runtime = {g["vmid"]: g for g in data["fast"]["guests"]}
        configs = {g["vmid"]: g for g in data["medium"]["guest_configs"]}
        assert runtime.keys() == configs.keys(), name
        storages = {s["storage"] for s in data["fast"]["storage"]}
        volumes = {d["name"].rsplit("/", 1)[-1] for d in data["medium"]["datasets"]["datasets"]}
        for vmid, config in configs.items():
            guest = runtime[vmid]
            # search shows the config's memory, the host page the runtime's: one number
            assert config["memory"] == guest["maxmem"], (name, vmid)
            assert config["cores"] == guest["cpus"], (name, vmid)
            assert (config["name"], config["type"]) == (guest["name"], guest["type"])
            if guest["status"] == "running":
                assert 0 < guest["mem"] <= guest["maxmem"], (name, vmid)
            for disk in config["disks"]:
                if disk["storage"] is None:
                    continue  # a bind mount
                assert disk["storage"] in storages, (name, vmid, disk)
                prefix = "subvol" if config["type"] == "lxc" else "vm"
                assert any(v.startswith(f"{prefix}-{vmid}-disk-") for v in volumes), (name, vmid)


def test_host_memory_holds_its_running_guests(samples):
    for name, (_, data) in samples.items():
        mem = data["fast"]["host"]["mem"]
        guests = sum(g["mem"] for g in data["fast"]["guests"])
        assert guests < mem["used"] < mem["total"], name
        assert mem["used"] + mem["available"] == mem["total"]


def verdict(data: dict[str, dict]):
    facts = {tier: compact(tier, data[tier], {}, NOW, NOW, None) for tier in TIERS}
    return evaluate("online", NOW, 0.0, facts, NOW, Thresholds())


def test_scenarios_show_what_the_readme_promises(samples):
    seen = {}
    for name, (host, data) in samples.items():
        result = verdict(data)
        texts = [reason.text for reason in result.reasons]
        seen[host.scenario] = texts
        if host.scenario in ("healthy", "offline"):  # the offline one is fine until it leaves
            assert (result.level, texts) == (OK, []), name
        elif host.scenario == "degraded":
            assert result.level == CRITICAL and "tank DEGRADED" in texts, texts
            tank = next(p for p in data["fast"]["zfs_pools"]["pools"] if p["name"] == "tank")
            assert tank["scan"]["function"] == "resilver" and tank["scan"]["state"] == "scanning"
            started = datetime.fromisoformat(tank["scan"]["start_time"].replace("Z", "+00:00"))
            assert NOW - started < timedelta(days=1)  # a resilver of today, not of 2020
        elif host.scenario == "full":
            # the pool, then the storages on it (Proxmox sees them as full as the pool)
            assert result.level == CRITICAL and texts[0] == "tank 92 % full", texts
            assert texts[1:] == ["storage tank 92 % full", "storage backup 92 % full"], texts
        elif host.scenario == "stale-snapshots":
            assert result.level == WARNING and len(texts) == 1, texts
            assert "snapshot" in texts[0] and "12 days" in texts[0], texts
        elif host.scenario == "updates":
            assert (result.level, texts) == (WARNING, ["181 updates pending"]), name
    assert set(seen) == {"healthy", "degraded", "full", "stale-snapshots", "updates", "offline"}


def test_the_offline_host_leaves_after_a_while():
    args = parser().parse_args(["--url", "ws://x", "--tokens", "x", "--offline-after", "120"])
    assert args.offline_after == 120
    offline = [name for name, scenario, _ in DEMO_FLEET if scenario == "offline"]
    assert len(offline) == 1


def fast_points(agent: SimulatedAgent) -> list[tuple[datetime, float, float]]:
    """(collected at, CPU %, memory used as % of total) of the agent's queued fast samples."""
    points = []
    for _, text in sorted(agent.pending.values(), key=lambda item: json.loads(item[1])["seq"]):
        frame = json.loads(text)
        if frame["tier"] != "fast":
            continue
        host = frame["data"]["host"]
        when = datetime.fromisoformat(frame["collected_at"].replace("Z", "+00:00"))
        points.append((when, host["cpu_percent"], 100 * host["mem"]["used"] / host["mem"]["total"]))
    return points


@pytest.mark.parametrize("index", range(len(DEMO_FLEET)))
def test_history_is_one_line_where_the_backlog_meets_live_samples(index):
    """scripts/demo's backlog (5 min apart) then live samples (10 s apart): no jump where they
    meet, and no more noise between live samples than between minutes of the backlog."""
    name, scenario, guests = DEMO_FLEET[index]
    args = parser().parse_args(["--url", "ws://x", "--tokens", "x", "--fast", "10"])
    intervals = {"fast": 10, "medium": 30, "slow": 60}
    agent = SimulatedAgent(
        "ws://x", name, "token", scenario, index, intervals, Stats(), args, guests
    )
    agent.backfill(2, 300)
    backlog = fast_points(agent)
    assert len(backlog) == 24
    start = datetime.now(UTC)
    assert timedelta(0) < start - backlog[-1][0] < timedelta(seconds=301)
    for i in range(30):
        agent.collect("fast", start + timedelta(seconds=10 * i))
    live = fast_points(agent)[len(backlog) :]
    last, first = backlog[-1], live[0]
    # where they meet: within what 5 minutes of drift and noise give
    assert abs(first[1] - last[1]) < 4, (last, first)
    assert abs(first[2] - last[2]) < 3, (last, first)
    # live samples: small steps (a real host's CPU does not swing 10 points every 10 s here)
    for before, after in zip(live, live[1:], strict=False):
        assert abs(after[1] - before[1]) < 2.5, (before, after)
        assert abs(after[2] - before[2]) < 1, (before, after)


# scripts/demo's hosts, as it registers them
REGISTER = """
from bench.payloads import DEMO_FLEET
from hosts.models import Host
for name, scenario, guests in DEMO_FLEET:
    print(name, Host.objects.create(name=name).issue_token(), scenario, guests)
"""


@pytest.mark.e2e
def test_demo_fleet_speaks_to_a_real_server(live_server_factory, tmp_path):
    """bench.fleet as scripts/demo runs it, faster: the server acks every tier of every host
    (backlog included), and the offline host leaves while the others stay."""
    server = live_server_factory().start()
    tokens = tmp_path / "tokens"
    tokens.write_text(server.manage("shell", "-v0", "-c", REGISTER))
    fleet = subprocess.Popen(
        [sys.executable, "-m", "bench.fleet", "--url", server.url, "--tokens", str(tokens),
         "--fast", "1", "--medium", "2", "--slow", "3", "--duration", "120",
         "--backfill-hours", "0.5", "--backfill-step", "300", "--offline-after", "4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    offline = next(name for name, scenario, _ in DEMO_FLEET if scenario == "offline")
    others = [name for name, _, _ in DEMO_FLEET if name != offline]

    def stored() -> dict[tuple[str, str], int]:
        rows = server.query(
            "SELECT h.name, s.tier, COUNT(*) FROM metrics_sample s"
            " JOIN hosts_host h ON h.id = s.host_id GROUP BY h.name, s.tier"
        )
        return {(name, tier): count for name, tier, count in rows}

    def settled() -> bool:
        counts = stored()
        return (
            server.host_status(offline) == "offline"
            and all(server.host_status(name) == "online" for name in others)
            # the backlog (6 fast samples) and live samples of every tier
            and all(counts.get((name, "fast"), 0) > 6 for name in others)
            and all(counts.get((name, t), 0) > 0 for name in others for t in ("medium", "slow"))
        )

    try:
        assert server.wait_for(settled, timeout=90, interval=0.5), (stored(), server.log()[-2000:])
    finally:
        fleet.terminate()
        _, errors = fleet.communicate(timeout=30)
    assert "nack" not in errors, errors
    assert "Traceback" not in server.log()
