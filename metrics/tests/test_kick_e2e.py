"""A real daphne process on the in-memory channel layer (the SQLite set-up of scripts/run):
a token revoked or a host deleted from a shell closes the live agent within a second, not
after the 20 s connection check."""

from __future__ import annotations

import asyncio

import pytest

from metrics.tests.test_e2e import close_code, join

pytestmark = pytest.mark.e2e

# Well under the 20 s connection check, which is left as it is: only the kick poll (0.5 s)
# can close the agent in time. Generous for a loaded CI machine.
BOUND_S = 5


@pytest.fixture
def server(live_server_factory):
    # no REDIS_URL: the shell's channel-layer message reaches nobody, as on SQLite
    return live_server_factory(REDIS_URL="", PROXMON_CONNECTION_CHECK_S="20").start()


@pytest.mark.parametrize("command", ["revoke_token", "delete_host"])
async def test_revoking_or_deleting_from_a_shell_closes_the_live_agent_at_once(server, command):
    token = server.add_host("pve1")
    other = server.add_host("pve2")
    ws = await join(server, "pve1", token)
    bystander = await join(server, "pve2", other)
    await asyncio.to_thread(server.manage, command, "pve1")
    assert await close_code(ws, timeout=BOUND_S) == (4401, "token revoked")
    # the other host's agent stays connected
    await (await bystander.ping())  # answered: still connected
    assert bystander.close_code is None
    await bystander.close()
