"""End to end: the real agent on the fake host, a real server (daphne), the /backups/ page."""

from __future__ import annotations

import html
import re

import pytest

from agent.tests.test_reporter_e2e import agent_process  # noqa: F401  (a fixture)
from dashboard.tests.test_login_limits import Browser

PASSWORD = "backups-e2e-password-1"


def page(browser: Browser, url: str) -> str:
    with browser.opener.open(url) as response:
        assert response.status == 200, url
        return html.unescape(response.read().decode())


@pytest.mark.e2e
def test_agent_backups_reach_the_fleet_page_and_the_host_page(
    live_server_factory,
    agent_process,  # noqa: F811
):
    server = live_server_factory()
    server.manage(
        "shell",
        "-v0",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('op', '', '{PASSWORD}')",
    )
    token = server.add_host("pve-fake")
    server.start()
    agent = agent_process(server.url, token, "pve-fake")
    medium = lambda: server.query(  # noqa: E731
        "SELECT COUNT(*) FROM metrics_sample s JOIN hosts_host h ON h.id = s.host_id "
        "WHERE h.name = ? AND s.tier = 'medium'",
        "pve-fake",
    )[0][0]
    agent.wait_for(lambda: medium() >= 1, what="a medium sample stored")

    browser = Browser(server.http_url)
    assert browser.post_login("/login/", "op", PASSWORD) == 302
    fleet = page(browser, server.http_url + "/backups/")
    rows = re.findall(r'<tr class="backup-(\w+)[^"]*">\s*<td data-label="host"', fleet)
    assert rows == ["failed", "uncovered", "uncovered", "uncovered", "ok"]
    assert "ct 101 test-lxc-101" in fleet and "vm 100 test-qemu-100" in fleet
    assert "5 guests on the fleet: 1 last backup failed, 3 not covered by any job, 1 ok" in fleet

    failed = page(browser, server.http_url + "/backups/?show=failed")
    assert re.findall(r'<tr class="backup-(\w+)', failed) == ["failed"]

    host = page(browser, server.http_url + "/hosts/pve-fake/")
    assert "ct 101 test-lxc-101: last backup failed" in host  # the status reason
    assert "replication 100-0 to node2: failed once" in host
    assert agent.stop() == 0
    assert "server rejected" not in agent.log() and "Traceback" not in agent.log()
