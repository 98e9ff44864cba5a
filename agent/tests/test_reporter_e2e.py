"""The reporter over real sockets.

First against a scripted WebSocket server in this process (every close code, ack/nack, 1009,
redirects), then end to end: the agent as a subprocess on a fake host against a real proxmon
server process (`@pytest.mark.e2e`).
"""

import asyncio
import json
import logging
import re
import shutil
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from agent.buffer import Buffer
from agent.collect import make_sample, serialize
from agent.config import Config
from agent.reporter import EXIT_UNSUPPORTED_PROTOCOL, Backoff, Delays, Reporter, shrink
from agent.tests import fakehost

REPO = Path(__file__).resolve().parents[2]
TOKEN = "scripted-server-token-0123456789abcdefghijklm"
QUICK = Delays(initial=0.01, maximum=0.02, rejected=1.0, rejected_maximum=2.0, rate_limited=1.0)


@pytest.fixture(autouse=True)
def agent_log(caplog):
    caplog.set_level(logging.DEBUG, logger="proxmon.agent")


def buffered(*sizes: int) -> Buffer:
    """A buffer of fast samples seq 1.. whose raw output is `size` characters long."""
    buffer = Buffer()
    for seq, size in enumerate(sizes, 1):
        pools = {"pools": [{"name": "tank", "health": "ONLINE"}], "raw": {"status": "x" * size}}
        frame = make_sample("fast", seq, 1_700_000_000 + seq, {"zfs_pools": pools}, {})
        buffer.add(seq, serialize(frame), label=f"fast #{seq}")
    return buffer


def test_backoff_doubles_with_jitter_from_1_to_60_s_and_resets():
    low, high = Backoff(1, 60, rng=lambda: 0.0), Backoff(1, 60, rng=lambda: 1.0)
    assert [low.next() for _ in range(9)] == [1, 1, 2, 4, 8, 16, 30, 30, 30]
    assert [high.next() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    high.reset()
    assert high.next() == 1


class Scripted:
    """A WebSocket server whose `script(ws, number)` plays each connection (numbered from 1)."""

    def __init__(self, script, **options) -> None:
        self.script = script
        self.options = options
        self.connections: list[float] = []
        self.requests = []
        self.received: list[list[dict]] = []
        self.joins: list[dict] = []

    async def __aenter__(self):
        self.server = await serve(self._handle, "127.0.0.1", 0, **self.options)
        scheme = "wss" if self.options.get("ssl") else "ws"
        self.url = f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ws/agent"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, ws):
        self.connections.append(time.monotonic())
        self.requests.append(ws.request)
        self.received.append([])
        await self.script(ws, len(self.connections))

    async def recv(self, ws) -> dict:
        frame = json.loads(await ws.recv())
        self.received[-1].append(frame)
        return frame

    async def join(self, ws) -> dict:
        """Receive the join frame (kept in `joins`) and answer `joined`."""
        frame = json.loads(await ws.recv())
        self.joins.append(frame)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        joined = {"type": "joined", "protocol": 1, "host": frame["host"], "server_time": now}
        await ws.send(json.dumps(joined))
        return frame


async def run_reporter(url: str, buffer: Buffer, until, timeout: float = 5.0, ca_file=None):
    """Run a reporter until `until()` is true; returns (exit code or None, reporter)."""
    config = Config(
        path="agent.toml", server_url=url, token=TOKEN, host="pve-fake", ca_file=ca_file
    )
    reporter = Reporter(config, buffer, delays=QUICK)
    stop = asyncio.Event()
    task = asyncio.create_task(reporter.run(stop))
    deadline = time.monotonic() + timeout
    while not until() and not task.done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    stop.set()
    return await asyncio.wait_for(task, 5), reporter


async def test_join_then_resend_in_order_with_ack_and_nack(caplog):
    async def script(ws, number):
        await server.join(ws)
        if number == 1:
            assert (await server.recv(ws))["seq"] == 1
            await ws.send(json.dumps({"type": "nack", "seq": 1, "error": "data: bad"}))
            assert (await server.recv(ws))["seq"] == 2
            await ws.send(json.dumps({"type": "ack", "seq": 2}))
            await server.recv(ws)
            await ws.close(1011, "could not store the sample; resend later")
        else:
            frame = await server.recv(ws)
            await ws.send(json.dumps({"type": "ack", "seq": frame["seq"]}))
            await ws.wait_closed()

    buffer = buffered(10, 10, 10)
    async with Scripted(script) as server:
        with caplog.at_level(logging.DEBUG, logger="proxmon.agent"):
            code, _ = await run_reporter(server.url, buffer, lambda: len(buffer) == 0)
    assert code == 0
    join = {"type": "join", "protocol": 1, "host": "pve-fake", "token": TOKEN}
    assert server.joins == [{**join, "agent_version": "0.1.0"}] * 2
    assert [[f["seq"] for f in frames] for frames in server.received] == [[1, 2, 3], [3]]
    assert "server rejected sample seq 1 (fast #1), dropped: data: bad" in caplog.text
    assert "1011" in caplog.text
    assert server.requests[0].path == "/ws/agent"
    assert TOKEN not in str(server.requests[0].headers) and TOKEN not in caplog.text


async def test_unsupported_protocol_stops_the_agent(caplog):
    async def script(ws, number):
        await ws.recv()
        await ws.close(4426, "supported protocols: 2")

    async with Scripted(script) as server:
        code, _ = await run_reporter(server.url, Buffer(), lambda: False)
    assert code == EXIT_UNSUPPORTED_PROTOCOL
    assert len(server.connections) == 1
    assert "4426 supported protocols: 2" in caplog.text


@pytest.mark.parametrize(
    ("code", "min_gap", "max_gap", "said"),
    [
        (4401, 0.5, 2.5, "token rejected"),
        (4429, 1.0, 2.5, "too many joins"),
        (4400, 0.0, 0.4, "protocol violation"),
        (4408, 0.0, 0.4, "no join in time"),
        (4409, 0.0, 0.4, "replaced by a newer connection"),
        (1011, 0.0, 0.4, "server error"),
    ],
)
async def test_close_codes_get_their_reaction(caplog, code, min_gap, max_gap, said):
    async def script(ws, number):
        await server.join(ws)
        await ws.close(code, "scripted")

    async with Scripted(script) as server:
        await run_reporter(server.url, Buffer(), lambda: len(server.connections) >= 2)
    gap = server.connections[1] - server.connections[0]
    assert min_gap <= gap <= max_gap
    assert said in caplog.text


async def test_frame_too_large_is_resent_without_raw_output(caplog):
    later = buffered(10, 20_000, 50, 30_000)

    async def script(ws, number):
        await server.join(ws)
        if number == 2:  # a new sample over the learnt limit: shrunk before it is sent
            text = later.get(4)
            assert text is not None
            buffer.add(4, text, label="fast #4")
        while True:
            frame = await server.recv(ws)
            await ws.send(json.dumps({"type": "ack", "seq": frame["seq"]}))

    buffer = buffered(10, 20_000, 50)
    async with Scripted(script, max_size=8_000) as server:  # closes with 1009 above 8000
        await run_reporter(
            server.url, buffer, lambda: len(buffer) == 0 and len(server.connections) == 2
        )
    stored = {frame["seq"]: frame for frames in server.received for frame in frames}
    assert sorted(stored) == [1, 2, 3, 4]
    for seq in (2, 4):  # summaries kept, raw dropped
        assert stored[seq]["data"]["zfs_pools"] == {
            "pools": [{"name": "tank", "health": "ONLINE"}],
            "raw": None,
        }
    assert stored[3]["data"]["zfs_pools"]["raw"] == {"status": "x" * 50}
    assert len(server.connections) == 2
    resent = "sample seq 2 (fast #2) of 20180 bytes is resent without raw command output"
    assert resent in caplog.text
    assert "sample seq 4 of 30180 bytes is sent without raw command output" in caplog.text


def test_a_sample_too_large_even_without_raw_keeps_only_its_errors():
    text = buffered(10).get(1).replace('"health":"ONLINE"', '"health":"' + "O" * 5000 + '"')
    smaller, how = shrink(text, 1000)
    frame = json.loads(smaller)
    assert how == "as errors only" and frame["data"] == {}
    assert frame["errors"]["zfs_pools"].startswith("dropped: the sample was")
    assert frame["seq"] == 1 and frame["collected_at"] == json.loads(text)["collected_at"]


def test_a_sample_cut_to_its_errors_names_no_error_for_via():
    """`via` says where sources came from; it is no source and gets no error entry."""
    guests = [{"vmid": 100, "name": "x" * 5000}]
    data = {"guests": guests, "via": {"guests": "pmxcfs"}}
    text = serialize(make_sample("fast", 1, 1_700_000_000, data, {}))
    smaller, how = shrink(text, 1000)
    frame = json.loads(smaller)
    assert how == "as errors only" and list(frame["errors"]) == ["guests"]


async def test_redirects_are_not_followed(caplog):
    async def script(ws, number):
        await target.join(ws)
        await ws.wait_closed()

    def redirect(connection, request):
        response = connection.respond(HTTPStatus.MOVED_PERMANENTLY, "moved\n")
        response.headers["Location"] = target.url
        return response

    async with Scripted(script) as target, Scripted(script, process_request=redirect) as server:
        await run_reporter(server.url, Buffer(), lambda: "not followed" in caplog.text)
    assert "server answered HTTP 301 redirecting to ws://127.0.0.1:" in caplog.text
    assert target.connections == [] and target.joins == []


async def test_clock_skew_is_warned_about(caplog):
    async def script(ws, number):
        await ws.recv()
        joined = {"type": "joined", "protocol": 1, "host": "pve-fake"}
        await ws.send(json.dumps({**joined, "server_time": "2001-01-01T00:00:00Z"}))
        await ws.wait_closed()

    async with Scripted(script) as server:
        await run_reporter(server.url, Buffer(), lambda: "joined as" in caplog.text)
    assert "joined as pve-fake (server time 2001-01-01T00:00:00Z)" in caplog.text
    assert "clock is" in caplog.text and "ahead of the server's" in caplog.text


@pytest.fixture
def server_tls(tmp_path):
    """A self-signed certificate for 127.0.0.1 and a server context using it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    command += " -subj /CN=proxmon-test -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, str(cert)


async def test_tls_is_verified_against_ca_file_or_the_system_store(caplog, server_tls):
    context, cert = server_tls

    async def script(ws, number):
        await server.join(ws)
        await ws.wait_closed()

    async with Scripted(script, ssl=context) as server:
        assert server.url.startswith("wss://")
        await run_reporter(server.url, Buffer(), lambda: "joined as" in caplog.text, ca_file=cert)
        caplog.clear()
        # Not signed by anything in the system trust store: refused, never joined.
        await run_reporter(server.url, Buffer(), lambda: "cannot connect" in caplog.text)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert "joined as" not in caplog.text


# --- end to end: the agent process, a fake host and a real server ------------------------------

COLLECTED = re.compile(r"collected (\w+) seq=(\d+) collected_at=(\S+)")


class AgentProcess:
    def __init__(self, tmp_path: Path, url: str, token: str, host: str) -> None:
        self.fake = fakehost.build(tmp_path / "host", "healthy", 3)
        self.config = tmp_path / "agent.toml"
        self.config.write_text(
            f'server_url = "{url}"\ntoken = "{token}"\nhost = "{host}"\n'
            "[intervals]\nfast_seconds = 1\nmedium_seconds = 2\nslow_seconds = 3\n"
        )
        self.config.chmod(0o600)
        self.log_path = tmp_path / "agent.log"
        with open(self.log_path, "w") as log:
            options = ["--config", str(self.config), "--root", str(self.fake.root), "--debug"]
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", *options],
                cwd=REPO,
                env={**self.fake.env(), "PYTHONPATH": str(REPO)},
                stderr=log,
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def collected(self) -> set[tuple[str, datetime]]:
        return {(tier, _time(at)) for tier, _, at in COLLECTED.findall(self.log())}

    def wait_for(self, predicate, timeout: float = 15.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            assert self.process.poll() is None, f"agent exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.log()}"
            time.sleep(0.05)
        return value

    def cmdline(self) -> bytes:
        return Path(f"/proc/{self.process.pid}/cmdline").read_bytes()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(15)


@pytest.fixture
def agent_process(tmp_path):
    started = []

    def start(url: str, token: str, host: str) -> AgentProcess:
        started.append(AgentProcess(tmp_path, url, token, host))
        return started[-1]

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def _time(value: str | datetime) -> datetime:
    """A timestamp as the database driver returns it: text from SQLite, datetime from psycopg."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T")).replace(
        tzinfo=UTC
    )


def stored(server, host: str) -> set[tuple[str, datetime]]:
    rows = server.query(
        "SELECT s.tier, s.collected_at FROM metrics_sample s "
        "JOIN hosts_host h ON h.id = s.host_id WHERE h.name = ?",
        host,
    )
    return {(tier, _time(at)) for tier, at in rows}


@pytest.mark.e2e
def test_agent_stores_every_tier_and_everything_collected_while_the_server_was_down(
    live_server_factory, agent_process
):
    server = live_server_factory()
    token = server.add_host("pve-fake")
    server.start()
    agent = agent_process(server.url, token, "pve-fake")

    tiers = lambda: {tier for tier, _ in stored(server, "pve-fake")}  # noqa: E731
    agent.wait_for(lambda: tiers() == {"fast", "medium", "slow"}, what="all three tiers")
    assert server.host_status("pve-fake") == "online"
    assert token.encode() not in agent.cmdline()

    server.kill()
    before = len(agent.collected())
    agent.wait_for(lambda: len(agent.collected()) >= before + 4, what="samples in the outage")
    server.start()
    agent.wait_for(lambda: agent.log().count("joined as pve-fake") == 2, what="rejoin")
    collected = agent.collected()
    agent.wait_for(lambda: collected <= stored(server, "pve-fake"), what="the backlog stored")

    duplicates = server.query(
        "SELECT tier, collected_at FROM metrics_sample GROUP BY host_id, tier, collected_at "
        "HAVING COUNT(*) > 1"
    )
    assert duplicates == []
    assert agent.stop() == 0
    log = agent.log()
    assert "server rejected" not in log and "Traceback" not in log
    assert token not in log


@pytest.mark.e2e
def test_revoked_token_makes_the_agent_log_token_rejected(live_server_factory, agent_process):
    server = live_server_factory(PROXMON_CONNECTION_CHECK_S="0.5")
    token = server.add_host("pve-fake")
    server.start()
    agent = agent_process(server.url, token, "pve-fake")
    agent.wait_for(lambda: "joined as pve-fake" in agent.log(), what="join")

    new_token = server.manage("revoke_token", "pve-fake").strip().splitlines()[-1]
    agent.wait_for(lambda: "token rejected" in agent.log(), timeout=10, what="token rejected")
    assert token not in agent.log() and new_token not in agent.log()
    assert token.encode() not in agent.cmdline()
    assert agent.stop() == 0


@pytest.mark.e2e
def test_samples_too_large_for_the_server_are_stored_without_raw_output(
    live_server_factory, agent_process
):
    # The healthy fake host's fast sample is about 40 KB, nearly all of it raw zpool JSON.
    server = live_server_factory(PROXMON_MAX_FRAME_BYTES="20000")
    token = server.add_host("pve-fake")
    server.start()
    agent = agent_process(server.url, token, "pve-fake")

    def fast_payloads():
        return server.payloads("fast")

    agent.wait_for(lambda: len(fast_payloads()) >= 3, what="fast samples stored")
    for payload in fast_payloads():
        assert payload["data"]["zfs_pools"]["raw"] is None
        assert [pool["name"] for pool in payload["data"]["zfs_pools"]["pools"]] == ["tank", "zeta"]
    assert agent.stop() == 0
    assert agent.log().count("closed with 1009") <= 2  # then the agent knows the limit
