"""Every command the README shows, run as written, in order, in a fresh copy of the project.

The copy holds what a clone holds (git's tracked files plus new ones it does not ignore) and
borrows this checkout's virtualenv, so `scripts/setup` has nothing to install. The environment
is an operator's: none of the test suite's settings (SECRET_KEY, bcrypt cost, database) leak in.

A command the README gains must be run here too: `test_every_readme_command_is_walked` fails
until it is. A few are run elsewhere: `scripts/test` is what runs this suite (CI calls it),
`scripts/build-agent` and `proxmon-agent collect --once` by agent/tests/test_frozen.py,
`scripts/build-deb` by proxmon/tests/test_build_deb.py,
`scripts/services` by the suite's PostgreSQL pass; `scripts/bench` is an hour of benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from alerts.tests.receiver import Receiver
from liveserver import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYTHON = ".venv/bin/python"

ONBOARDING = ".venv/bin/python manage.py add_host pve1"  # "Monitoring a Proxmox host", step 1
# The commands this file runs, as the README writes them (placeholders as written there).
WALKED = {
    "scripts/run",
    "scripts/demo",
    ONBOARDING,
    "SECRET_KEY=... ALLOWED_HOSTS=... .venv/bin/python manage.py check --deploy",
    "manage.py check",  # named in prose; run here with --deploy and plain
    "manage.py serve",  # named in prose; run here as the management block writes it
    "manage.py ensure_admin",  # likewise
}
# Run by other tests (see the module's docstring).
ELSEWHERE = {
    "scripts/test",
    "scripts/test --sqlite-only -k search",
    "scripts/build-agent",
    "scripts/build-deb",  # by proxmon/tests/test_build_deb.py, with a stand-in binary
    "proxmon-agent collect --once",
    "scripts/services",  # by scripts/test's second pass, and by conftest.py's redis_url
    "scripts/bench",  # the benchmarks: an hour of load; docs/benchmarks.md has their runs
}
MANAGE = ".venv/bin/python manage.py "
COMMAND_START = ("scripts/", ".venv/bin/", "manage.py ", "SECRET_KEY=", "proxmon-agent ")


def readme_commands() -> list[str]:
    """Indented code lines and inline code spans of the README that are commands."""
    text = README.read_text()
    found = []
    for line in text.splitlines():
        if line.startswith("    ") and line.strip().startswith(COMMAND_START):
            found.append(line.split("#")[0].strip())
    found += [span for span in re.findall(r"`([^`\n]+)`", text) if span.startswith(COMMAND_START)]
    return list(dict.fromkeys(found))


def management_block() -> list[str]:
    """The README's block of management commands (`.venv/bin/python manage.py ...`), in order."""
    return [
        c
        for c in readme_commands()
        if c.startswith(MANAGE) and " check" not in c and c != ONBOARDING
    ]


def test_every_readme_command_is_walked():
    block = set(management_block())
    missing = [c for c in readme_commands() if c not in WALKED | ELSEWHERE | block]
    assert not missing, f"README commands no test runs: {missing}"


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    copy = tmp_path / "proxmon"
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def operator_env(**extra: str) -> dict[str, str]:
    """The environment of a shell on a fresh machine: nothing of the test run's settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROXMON_", "DJANGO_", "PYTEST_"))
        and k not in {"SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "REDIS_URL", "DEBUG"}
    }
    return {**env, **extra}


def run(copy: Path, command: str, env: dict[str, str], stdin: str = "", timeout: float = 120):
    """A README line as a shell would run it, from the project's folder."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=copy,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Background:
    """A long-running README command (scripts/run, scripts/demo) in its own process group."""

    def __init__(self, copy: Path, command: str, env: dict[str, str]) -> None:
        self.log = copy / f"var-{command.replace('/', '-')}.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=copy,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{what}: the command exited:\n{self.output()}")
            try:
                if predicate():
                    return
            except (OSError, sqlite3.Error):
                pass
            time.sleep(0.2)
        pytest.fail(f"{what}: not within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
        return answer.status == 200


async def join(port: int, host: str, token: str) -> dict:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/agent") as agent:
        await agent.send(
            json.dumps(
                {"type": "join", "protocol": 1, "host": host, "token": token, "agent_version": "t"}
            )
        )
        return json.loads(await asyncio.wait_for(agent.recv(), 10))


# The README's placeholders, as an operator would fill them in (brackets: optional arguments).
PLACEHOLDERS = (
    ("[--min-level warning|critical]", "--min-level critical"),
    ("[--tag TAG]", "--tag prod"),
    ("TAG...", "prod ceph"),
    ("NAME", "pve2"),
    ("CHANNEL", "ops"),
    ("TEXT", "'kernel update'"),
)


def fill(command: str, url: str) -> str:
    for placeholder, value in PLACEHOLDERS:
        command = command.replace(placeholder, value)
    command = re.sub(r"\bURL\b", url, command)
    return re.sub(r"(--minutes) N\b", r"\1 30", command)


def walk_management_command(copy: Path, command: str, env: dict[str, str], url: str) -> str:
    """Run one line of the README's management block with its placeholders filled in."""
    name = command[len(MANAGE) :].split()[0]
    if name == "serve":  # the server: until it answers, on a port of its own
        port = free_port()
        written = command.replace("[--bind ADDR] [--port N]", f"--port {port}")
        server = Background(copy, written, env)
        try:
            server.wait_for(lambda: healthy(port), 60, command)
        finally:
            server.stop()
        return ""
    if name == "changepassword":  # reads the new password twice from the terminal
        return terminal(copy, command, env, ["a-new-Passphrase-42"] * 2)
    variants = [fill(command, url)]
    if "[--older-than HOURS]" in command:
        variants = [command.replace(" [--older-than HOURS]", p) for p in ("", " --older-than 24")]
    output = ""
    for variant in variants:
        assert "[" not in variant and variant.upper() != variant, f"placeholder left: {variant}"
        result = run(copy, variant, env)
        assert result.returncode == 0, f"{variant}:\n{result.stdout}{result.stderr}"
        output += result.stdout
    return output


def terminal(copy: Path, command: str, env: dict[str, str], answers: list[str]) -> str:
    """Run a command on a terminal of its own, answering each prompt that ends in ': '."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(copy)
        os.execvpe("bash", ["bash", "-c", command], env)
    output, pending = b"", list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"{command}: no output for 30 s:\n{output.decode()}"
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip(b" ").endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output.decode()
    return output.decode()


def test_readme_commands_in_order(fresh_copy: Path):
    port = free_port()
    env = operator_env(PROXMON_PORT=str(port))
    server = Background(fresh_copy, "scripts/run", env)
    receiver = Receiver()  # for the channel the management block adds
    try:
        server.wait_for(lambda: healthy(port), 180, "scripts/run serves /healthz")
        assert "password" in server.output()  # the generated admin password, shown once

        # "Monitoring a Proxmox host", step 1, in another shell: no variables set there.
        shell = operator_env()
        added = run(fresh_copy, ONBOARDING, shell)
        assert added.returncode == 0, added.stderr
        token = added.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert asyncio.run(join(port, "pve1", token))["type"] == "joined"  # one database

        # The management block, every line in the README's order.
        said = {}
        for command in management_block():
            name = command[len(MANAGE) :].split()[0]
            said[name] = walk_management_command(fresh_copy, command, shell, receiver.url())
        assert {"add_host", "revoke_token", "delete_host", "changepassword", "silence"} <= set(said)
        assert "Password changed successfully" in said["changepassword"]
        assert "exists already" in said["ensure_admin"]
        assert said["roll_up"].startswith("Rolled up ")
        assert receiver.requests[0]["json"]["title"] == "proxmon: test message"  # notify_test

        # "Bad input exits with status 1 and says why."
        unknown = run(fresh_copy, f"{MANAGE}revoke_token no-such-host", shell)
        assert unknown.returncode == 1
        assert "no-such-host" in unknown.stderr and "Traceback" not in unknown.stderr
        usage = run(fresh_copy, f"{MANAGE}add_host", shell)
        assert usage.returncode == 1 and "Traceback" not in usage.stderr
    finally:
        server.stop()
        receiver.close()

    # "Deploying": the production settings check, as written there (a real key instead of ...).
    key = "k" * 20 + "-production-key-with-enough-entropy-0123456789"
    command = "SECRET_KEY=... ALLOWED_HOSTS=... .venv/bin/python manage.py check --deploy"
    assert command in readme_commands()
    written = command.replace("SECRET_KEY=...", f"SECRET_KEY={key}")
    checked = run(fresh_copy, written.replace("=...", "=monitor.example.com"), operator_env())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    plain = run(fresh_copy, f"{MANAGE}check", operator_env())
    assert plain.returncode == 0, plain.stdout + plain.stderr


def test_readme_demo(fresh_copy: Path):
    port = free_port()
    demo = Background(fresh_copy, "scripts/demo", operator_env(PROXMON_PORT=str(port)))
    database = fresh_copy / "var/demo.sqlite3"

    def online() -> int:
        with sqlite3.connect(database, timeout=5) as db:
            return db.execute("SELECT count(*) FROM hosts_host WHERE status = 'online'").fetchone()[
                0
            ]

    try:
        demo.wait_for(lambda: healthy(port), 180, "scripts/demo serves /healthz")
        # nine hosts join; the one meant to go offline may already have left
        demo.wait_for(lambda: online() >= 8, 120, "the demo's hosts come online")
        assert "user admin, password demo" in demo.output()
    finally:
        demo.stop()
