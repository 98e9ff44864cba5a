"""The real agent (a subprocess on a fake host) against a real proxmon server process: raw
zpool output that does not change is sent once per connection and `raw_same` after it, and
every stored sample still holds the raw the agent collected, across a server restart."""

from __future__ import annotations

import pytest

from agent.tests.test_reporter_e2e import agent_process  # noqa: F401 - the fixture


@pytest.mark.e2e
def test_unchanged_raw_is_sent_once_per_connection_and_stored_every_time(
    live_server_factory,
    agent_process,  # noqa: F811
):
    server = live_server_factory()
    token = server.add_host("pve-fake")
    server.start()
    agent = agent_process(server.url, token, "pve-fake")

    def raws() -> list:
        return [p["data"]["zfs_pools"]["raw"] for p in server.payloads("fast")]

    agent.wait_for(lambda: len(raws()) >= 3, what="three fast samples")
    agent.wait_for(lambda: "sent as raw_same" in agent.log(), what="a raw_same")

    server.kill()  # a new connection: its first sample of each tier carries raw again
    server.start()
    agent.wait_for(lambda: agent.log().count("joined as pve-fake") == 2, what="rejoin")
    stored = len(raws())
    agent.wait_for(lambda: len(raws()) >= stored + 3, what="fast samples after the restart")

    def after_restart() -> str:
        return agent.log().split("joined as pve-fake")[2]

    agent.wait_for(lambda: "sent as raw_same" in after_restart(), what="raw_same after restart")

    every = raws()
    assert every[0] and isinstance(every[0], dict) and "status" in every[0]
    assert all(raw == every[0] for raw in every)  # the fake host's pools do not change
    assert agent.stop() == 0
    log = agent.log()
    assert "server rejected" not in log and "Traceback" not in log
