"""End to end: a container on DHCP/SLAAC is found by the addresses its namespace holds.

The agent process reads a fake host whose running container 104 has `ip=dhcp` in its config and
a network namespace (fakehost_pmxcfs.lxc_namespace) with a leased IPv4 and SLAAC IPv6
addresses; it sends them to a real server (daphne, `manage.py serve`), and a logged-in
operator's search on /vms/ finds the container by each of them.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from agent.tests import fakehost, fakehost_pmxcfs

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "lxc-search-e2e-password-1"


def logged_in(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login/", timeout=30) as answer:
        page = answer.read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    fields = {"csrfmiddlewaretoken": csrf, "username": "admin", "password": PASSWORD}
    request = urllib.request.Request(
        base + "/login/",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": base + "/login/"},
    )
    opener.open(request, timeout=30).close()
    return opener


def search(opener: urllib.request.OpenerDirector, base: str, query: str) -> str:
    url = f"{base}/vms/?q={urllib.parse.quote(query)}"
    with opener.open(url, timeout=30) as answer:
        assert answer.geturl() == url  # not sent to the login page
        return html.unescape(answer.read().decode())


def test_lxc_address_from_its_namespace_is_found_by_the_search(tmp_path, live_server_factory):
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD)
    server.manage("ensure_admin")
    token = server.add_host("pve-fake")
    server.start()
    fake = fakehost.build(tmp_path / "host", "healthy", 5)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'server_url = "{server.url}"\ntoken = "{token}"\nhost = "pve-fake"\n'
        "[intervals]\nfast_seconds = 5\nmedium_seconds = 1\nslow_seconds = 60\n"
    )
    config.chmod(0o600)
    with open(tmp_path / "agent.log", "w") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)]
            + ["--root", str(fake.root)],
            cwd=REPO,
            env={**fake.env(), "PYTHONPATH": str(REPO)},
            stderr=log,
        )
    try:
        row = f'<td data-label="VMID">{fakehost.RUNNING_LXC}</td>'
        rows = "SELECT ips FROM metrics_guest WHERE vmid = ?"
        deadline = time.monotonic() + 30
        while "172.20.0.2" not in str(server.query(rows, fakehost.RUNNING_LXC)):
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()
            time.sleep(0.1)
        opener = logged_in(server.http_url)
        for address in fakehost_pmxcfs.NAMESPACE_IPS:
            page = search(opener, server.http_url, address)
            # The container's config says only `ip=dhcp`: no other guest has these addresses.
            assert "1 guest matching" in page, address
            assert row in page and 'href="/hosts/pve-fake/"' in page, address
    finally:
        agent.terminate()
        agent.wait(15)
