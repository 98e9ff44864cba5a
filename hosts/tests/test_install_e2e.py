"""The install block from the onboarding page, run for real: a real daphne serves the agent, an
admin adds a host in the admin over HTTP, the block from that page runs in bash with DESTDIR
set to a scratch root, and the agent it installed joins the server with the config it wrote.

The "binary" served is a stand-in that runs this checkout's agent (building the frozen one
takes minutes); `test_the_frozen_binary_installs_and_runs` serves the real one, built once per
session by agent/tests/test_frozen.py's fixture.
"""

from __future__ import annotations

import hashlib
import html
import http.cookiejar
import re
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from agent.config import load
from agent.tests import fakehost
from agent.tests.test_frozen import frozen_agent  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "install-e2e-password-1"


class Browser:
    """An admin's session over plain HTTP: cookies and the CSRF token as a browser keeps them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as answer:
            return answer.read().decode()

    def post_form(self, path: str, fields: dict[str, str]) -> str:
        page = self.get(path)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=30) as answer:
            return answer.read().decode()


def onboard(server, name: str) -> str:
    """Log in to the admin, add the host, return the install block as the page shows it."""
    browser = Browser(server.http_url)
    browser.post_form("/admin/login/", {"username": "admin", "password": PASSWORD})
    page = browser.post_form("/admin/hosts/host/add/", {"name": name, "_save": "Save"})
    found = re.search(r'<pre id="install-block"[^>]*>(.*?)</pre>', page, re.DOTALL)
    assert found, page[:2000]
    return html.unescape(found.group(1))


def served_server(factory, binary: Path):
    server = factory(PROXMON_ADMIN_PASSWORD=PASSWORD, PROXMON_AGENT_BINARY=str(binary))
    server.env["PROXMON_PUBLIC_URL"] = server.http_url
    server.manage("ensure_admin")
    return server.start()


def tools(folder: Path) -> str:
    """A PATH for the block: the system's programs, and a systemctl that records its calls (the
    block must not call it when staging under DESTDIR)."""
    folder.mkdir()
    systemctl = folder / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "systemctl $*" >> {folder}/calls.log\n')
    systemctl.chmod(0o755)
    return f"{folder}:/usr/bin:/bin"


def paste(block: str, destdir: Path, path: str) -> subprocess.CompletedProcess:
    """The block as a root shell runs it when pasted: bash reading it from its input."""
    return subprocess.run(
        ["bash"],
        input=block,
        env={"PATH": path, "DESTDIR": str(destdir), "HOME": str(destdir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stand_in(tmp_path: Path) -> Path:
    binary = tmp_path / "served/proxmon-agent"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m agent "$@"\n')
    binary.chmod(0o755)
    return binary


def test_install_block_from_the_onboarding_page_installs_an_agent_that_joins(
    live_server_factory, tmp_path
):
    binary = stand_in(tmp_path)
    server = served_server(live_server_factory, binary)
    block = onboard(server, "pve-installed")
    scratch = tmp_path / "scratch"
    bin_dir = tmp_path / "tools"
    pasted = paste(block, scratch, tools(bin_dir))
    assert pasted.returncode == 0, pasted.stderr
    assert "proxmon-agent: OK" in pasted.stdout and "proxmon-agent.service: OK" in pasted.stdout

    installed = scratch / "usr/local/bin/proxmon-agent"
    sums = urllib.request.urlopen(server.http_url + "/agent/SHA256SUMS", timeout=10).read()
    assert f"{hashlib.sha256(installed.read_bytes()).hexdigest()}  proxmon-agent" in sums.decode()
    assert installed.read_bytes() == binary.read_bytes() and mode(installed) == 0o755
    unit = scratch / "etc/systemd/system/proxmon-agent.service"
    assert unit.read_bytes() == (REPO / "deploy/proxmon-agent.service").read_bytes()
    config_path = scratch / "etc/proxmon/agent.toml"
    assert mode(config_path.parent) == 0o700 and mode(config_path) == 0o600
    assert not (bin_dir / "calls.log").exists()  # staged: systemd left alone

    config = load(config_path)  # the agent's own loader accepts what the block wrote
    assert config.host == "pve-installed"
    assert config.server_url == server.url

    # The installed agent, with that config, joins and its samples are stored.
    fake = fakehost.build(tmp_path / "host", "healthy", 2)
    log_path = tmp_path / "agent.log"
    with open(log_path, "w") as log:
        agent = subprocess.Popen(
            [str(installed), "run", "--config", str(config_path), "--root", str(fake.root)],
            env=fake.env(),
            stdin=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while server.host_status("pve-installed") != "online" or not server.query(
            "SELECT 1 FROM metrics_sample s JOIN hosts_host h ON h.id = s.host_id WHERE h.name = ?",
            "pve-installed",
        ):
            assert agent.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    finally:
        agent.terminate()
        agent.wait(20)
    assert "joined as pve-installed" in log_path.read_text()


def test_a_download_that_does_not_match_its_sum_installs_nothing(live_server_factory, tmp_path):
    server = served_server(live_server_factory, stand_in(tmp_path))
    block = onboard(server, "pve-tampered")
    # a curl that delivers a corrupted binary, as a broken proxy or a swapped file would
    bin_dir = tmp_path / "tools"
    path = tools(bin_dir)
    curl = bin_dir / "curl"
    curl.write_text(
        '#!/bin/sh\n/usr/bin/curl "$@" || exit\n'
        'case "$*" in *"-o proxmon-agent "*) echo tampered >> proxmon-agent ;; esac\n'
    )
    curl.chmod(0o755)
    scratch = tmp_path / "scratch"
    pasted = paste(block, scratch, path)
    assert pasted.returncode != 0
    assert "proxmon-agent: FAILED" in pasted.stdout
    assert "WARNING: 1 computed checksum did NOT match" in pasted.stderr
    assert not scratch.exists() or not any(scratch.rglob("*")), list(scratch.rglob("*"))


def test_no_binary_built_yet_stops_the_block_with_the_servers_words(live_server_factory, tmp_path):
    server = served_server(live_server_factory, tmp_path / "dist/proxmon-agent")
    block = onboard(server, "pve-early")
    pasted = paste(block, tmp_path / "scratch", tools(tmp_path / "tools"))
    assert pasted.returncode != 0
    assert "404" in pasted.stderr
    assert not (tmp_path / "scratch").exists()


def test_the_frozen_binary_installs_and_runs(live_server_factory, tmp_path, frozen_agent):  # noqa: F811
    server = served_server(live_server_factory, frozen_agent)
    block = onboard(server, "pve-frozen")
    scratch = tmp_path / "scratch"
    pasted = paste(block, scratch, tools(tmp_path / "tools"))
    assert pasted.returncode == 0, pasted.stderr
    installed = scratch / "usr/local/bin/proxmon-agent"
    digest = hashlib.sha256(installed.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(frozen_agent.read_bytes()).hexdigest()
    version = subprocess.run(
        [str(installed), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("proxmon-agent ")
