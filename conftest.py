"""Fixtures shared by the server's tests."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator

from hosts.models import Host
from liveserver import LiveServer
from metrics.limits import join_limiter
from proxmon.asgi import application

ROOT = Path(__file__).resolve().parent


class AgentCommunicator(WebsocketCommunicator):
    """An in-process agent connection, from a given client address."""

    def __init__(self, client=("192.0.2.10", 40000), headers=None, path="/ws/agent"):
        super().__init__(application, path, headers=headers)
        # read when the consumer first runs, which is after this
        self.scope["client"] = client

    async def closed_with(self, timeout: float = 3) -> int:
        """Wait for the server's close and return its code (skipping other output)."""
        while True:
            message = await self.receive_output(timeout)
            if message["type"] == "websocket.close":
                self.close_reason = message.get("reason", "")
                return message["code"]


@pytest.fixture(autouse=True)
def _fresh_join_limiter():
    join_limiter.reset()
    yield
    join_limiter.reset()


@pytest.fixture
def make_host(db):
    def make(name: str = "pve1") -> tuple[Host, str]:
        host = Host(name=name)
        host.full_clean()
        token = host.issue_token()
        return host, token

    return make


@pytest.fixture
async def connect_agent():
    """Connect and join; returns the communicator after `joined`."""
    opened: list[AgentCommunicator] = []

    async def connect(host: str, token: str, client=("192.0.2.10", 40000)):
        agent = AgentCommunicator(client=client)
        opened.append(agent)
        connected, _ = await agent.connect()
        assert connected
        await agent.send_json_to(
            {"type": "join", "protocol": 1, "host": host, "token": token, "agent_version": "0.1.0"}
        )
        reply = await agent.receive_json_from(timeout=5)
        assert reply["type"] == "joined", reply
        return agent

    yield connect
    for agent in opened:
        await agent.disconnect()


@pytest.fixture
def live_server_factory(tmp_path):
    """Start real `manage.py serve` processes; all are stopped after the test."""

    servers: list[LiveServer] = []

    def make(share: LiveServer | None = None, **env: str) -> LiveServer:
        server = LiveServer(tmp_path / f"server{len(servers)}", share=share, **env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    for server in servers:
        server.drop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of the PostgreSQL pass, or one started by scripts/services for this run."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    out = subprocess.run(
        [str(ROOT / "scripts" / "services")], capture_output=True, text=True, check=True
    ).stdout
    return re.search(r"REDIS_URL=(\S+)", out).group(1)
