"""The frozen agent, dist/proxmon-agent, as it ships: built once per test session by
scripts/build-agent, then run on a fake host, alone and against a real proxmon server.

The binary is rebuilt when it is missing or older than any file it is made from, so a second
pass of the suite (scripts/test) reuses it. A failed build fails these tests: never a skip.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agent
from agent.collectors import COLLECTORS, TIERS
from agent.tests import fakehost
from metrics.decode import validate_sample  # the server's own check: the contract

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "dist/proxmon-agent"
BUILD_VENV = REPO / "var/build-venv"
# Everything the binary is made of, besides the build venv (rebuilt when its pins change).
INPUTS = (
    "deploy/proxmon-agent.spec",
    "scripts/build-agent",
    "requirements-agent-build.txt",
    "requirements.txt",
)
SERVER_PACKAGES = {"django", "channels", "daphne", "psycopg", "redis", "bcrypt", "argon2"}


def _newest_input() -> float:
    files = [REPO / name for name in INPUTS]
    files += [
        path
        for path in (REPO / "agent").rglob("*")
        if path.is_file() and "tests" not in path.parts and "__pycache__" not in path.parts
    ]
    return max(path.stat().st_mtime for path in files)


@pytest.fixture(scope="session")
def frozen_agent() -> Path:
    if not BINARY.exists() or BINARY.stat().st_mtime <= _newest_input():
        result = subprocess.run(
            [str(REPO / "scripts/build-agent")],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(
                f"scripts/build-agent failed with status {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
    return BINARY


def test_version_is_the_agents(frozen_agent):
    result = subprocess.run(
        [str(frozen_agent), "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"proxmon-agent {agent.__version__}"


def test_binary_holds_no_server_code(frozen_agent):
    listing = subprocess.run(
        [str(BUILD_VENV / "bin/pyi-archive_viewer"), "--recursive", "--brief", str(frozen_agent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = {line.strip().split(".")[0].split("/")[0] for line in listing.splitlines()}
    assert "agent" in names and "websockets" in names
    assert names & SERVER_PACKAGES == set()


def test_collect_once_prints_valid_samples_of_every_tier_like_the_source_agent(
    frozen_agent, tmp_path
):
    fake = fakehost.build(tmp_path / "host", "healthy", 5)
    argv = ["collect", "--once", "--root", str(fake.root)]
    frozen = subprocess.run(
        [str(frozen_agent), *argv], env=fake.env(), capture_output=True, text=True, timeout=60
    )
    assert frozen.returncode == 0, frozen.stderr
    assert "Traceback" not in frozen.stderr
    samples = json.loads(frozen.stdout)

    assert list(samples) == list(TIERS)
    for tier, frame in samples.items():
        assert validate_sample(frame) is None, (tier, frame)
        assert frame["errors"] == {}, tier
        sources = {m.SOURCE for m in COLLECTORS if tier == m.TIER}
        # the fast tier also says where guests and storages came from (pmxcfs or pvesh)
        assert set(frame["data"]) == sources | ({"via"} if tier == "fast" else set())
    assert samples["fast"]["data"]["via"] == {"storage": "pmxcfs", "guests": "pmxcfs"}
    assert samples["slow"]["data"]["system"]["agent_version"] == agent.__version__

    # The same program from the checkout sees the same host; only the host source holds
    # readings of the live machine (statvfs of / under the root).
    source = subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        cwd=REPO,
        env={**fake.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = json.loads(source.stdout)
    for tier in TIERS:
        for name, value in expected[tier]["data"].items():
            if name != "host":
                assert samples[tier]["data"][name] == value, (tier, name)


def test_run_joins_a_real_server_and_its_samples_are_stored(
    frozen_agent, tmp_path, live_server_factory
):
    server = live_server_factory()
    token = server.add_host("pve-fake")
    server.start()
    fake = fakehost.build(tmp_path / "host", "healthy", 3)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'server_url = "{server.url}"\ntoken = "{token}"\nhost = "pve-fake"\n'
        "[intervals]\nfast_seconds = 1\nmedium_seconds = 2\nslow_seconds = 3\n"
    )
    config.chmod(0o600)
    log_path = tmp_path / "agent.log"
    unpacked = tmp_path / "tmp"  # where the one-file binary unpacks itself while it runs
    unpacked.mkdir()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(frozen_agent), "run", "--config", str(config), "--root", str(fake.root)],
            env={**fake.env(), "TMPDIR": str(unpacked)},
            stdin=subprocess.DEVNULL,
            stderr=log,
        )
    try:

        def stored_tiers() -> set[str]:
            assert process.poll() is None, f"agent exited:\n{log_path.read_text()}"
            rows = server.query(
                "SELECT DISTINCT s.tier FROM metrics_sample s "
                "JOIN hosts_host h ON h.id = s.host_id WHERE h.name = ?",
                "pve-fake",
            )
            return {tier for (tier,) in rows}

        deadline = time.monotonic() + 30
        while stored_tiers() != set(TIERS):
            assert time.monotonic() < deadline, f"not all tiers stored:\n{log_path.read_text()}"
            time.sleep(0.1)
        assert server.host_status("pve-fake") == "online"
        versions = server.query("SELECT agent_version FROM hosts_host WHERE name = ?", "pve-fake")
        assert versions == [(agent.__version__,)]
        assert [entry.name[:4] for entry in unpacked.iterdir()] == ["_MEI"]

        # The one-file bootloader passes SIGTERM on: the agent stops cleanly with status 0.
        process.terminate()
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log_path.read_text()
    assert "joined as pve-fake" in text and "stopped" in text
    assert "Traceback" not in text and "server rejected" not in text
    assert token not in text
    assert list(unpacked.iterdir()) == []  # cleaned up on a clean stop
