"""The history worker: the roll-up pass in a process of its own (metrics/history_worker.py).

Real `manage.py serve` processes, a real agent socket, the worker found among the server's
children in /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websockets.sync.client import connect

from liveserver import ROOT
from metrics.tests import frames

pytestmark = pytest.mark.e2e


def workers(parent: int) -> list[int]:
    """Pids of the `manage.py roll_up` processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"roll_up" in argv:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: it only waits for its parent to read its status
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def send_fast(server, name: str, count: int) -> None:
    token = server.add_host(name)
    start = datetime.now(UTC) - timedelta(minutes=count)
    with connect(server.url) as ws:
        ws.send(json.dumps(frames.join(name, token)))
        assert json.loads(ws.recv(timeout=10))["type"] == "joined"
        for seq in range(1, count + 1):
            when = (start + timedelta(minutes=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            ws.send(json.dumps(frames.sample("fast", seq, when)))
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "seq": seq}


def rolled_up_to(server) -> int:
    rows = server.query("SELECT last_id FROM metrics_rollupstate WHERE id = 1")
    return rows[0][0] if rows else 0


def newest_sample(server) -> int:
    return server.query("SELECT MAX(id) FROM metrics_sample WHERE tier = 'fast'")[0][0] or 0


@pytest.fixture
def server(live_server_factory):
    return live_server_factory(
        PROXMON_HEARTBEAT_S="0.3", PROXMON_HISTORY_INTERVAL_S="1", PROXMON_HISTORY_SETTLE_S="0"
    ).start()


def test_the_server_rolls_up_in_its_worker_and_stops_it_with_itself(server):
    pids = server.wait_for(lambda: workers(server.process.pid))
    assert len(pids) == 1, server.log()
    argv = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
    assert argv[-5:-1] == [b"--every", b"1.0", b"--parent", str(server.process.pid).encode()]

    send_fast(server, "pve1", 5)
    newest = newest_sample(server)
    assert server.wait_for(lambda: rolled_up_to(server) >= newest, timeout=20), server.log()
    assert workers(server.process.pid) == pids  # the same worker did it, still running

    assert server.stop() == 0
    assert not alive(pids[0])


def test_a_worker_that_dies_is_started_again(server):
    first = server.wait_for(lambda: workers(server.process.pid))[0]
    os.kill(first, signal.SIGKILL)
    again = server.wait_for(lambda: [p for p in workers(server.process.pid) if p != first])
    assert again, server.log()
    assert f"history worker (pid {first}) exited with status -9" in server.log()

    send_fast(server, "pve2", 3)  # and the new one rolls up
    newest = newest_sample(server)
    assert server.wait_for(lambda: rolled_up_to(server) >= newest, timeout=20), server.log()


def test_the_worker_of_a_crashed_server_exits_by_itself(server):
    pid = server.wait_for(lambda: workers(server.process.pid))[0]
    server.kill()  # SIGKILL: the server cannot stop its worker
    assert server.wait_for(lambda: not alive(pid), timeout=10)


def test_roll_up_once_from_the_shell_says_how_many(live_server_factory):
    # a worker that ran its first pass at start, on an empty database, and now sleeps
    server = live_server_factory(
        PROXMON_HISTORY_INTERVAL_S="1000000", PROXMON_HISTORY_SETTLE_S="0"
    ).start()
    # its first pass has begun (it made the state row) before the samples come
    assert server.wait_for(lambda: server.query("SELECT id FROM metrics_rollupstate"), 20)
    send_fast(server, "pve1", 4)
    assert server.manage("roll_up").strip() == "Rolled up 4 samples into history."
    assert server.manage("roll_up").strip() == "Rolled up 0 samples into history."
    assert rolled_up_to(server) == newest_sample(server)


def test_sigterm_stops_the_worker_between_rounds_and_it_exits_cleanly(live_server_factory):
    # the flag of metrics/sigterm.py: without it SIGTERM would kill the process (status -15)
    server = live_server_factory()
    server.manage("migrate", "--noinput")
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "roll_up", "--every", "1000"],
        env=server.env,
        cwd=ROOT,
    )
    assert server.wait_for(lambda: server.query("SELECT id FROM metrics_rollupstate"), 20)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
