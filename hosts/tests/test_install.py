"""The one-line install's parts: the public downloads (hosts/downloads.py) and the block that
`manage.py add_host` and the admin print (hosts/onboarding.py). The block run for real against
a real server: test_install_e2e.py."""

from __future__ import annotations

import hashlib
import os
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from hosts.models import Host

pytestmark = pytest.mark.django_db

UNIT = Path(__file__).resolve().parents[2] / "deploy/proxmon-agent.service"


@pytest.fixture
def binary(tmp_path, settings) -> Path:
    path = tmp_path / "proxmon-agent"
    path.write_bytes(b"\x7fELF stand-in for the agent\n" * 1000)
    settings.PROXMON_AGENT_BINARY = path
    return path


def test_downloads_need_no_login_and_serve_the_binary_and_unit(client, binary):
    response = client.get("/agent/proxmon-agent")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == binary.read_bytes()
    unit = client.get("/agent/proxmon-agent.service")
    assert unit.status_code == 200 and unit.content == UNIT.read_bytes()
    assert client.head("/agent/proxmon-agent").status_code == 200


def test_sums_are_sha256sum_lines_and_follow_a_rebuilt_binary(client, binary):
    def expected(data: bytes) -> str:
        return (
            f"{hashlib.sha256(data).hexdigest()}  proxmon-agent\n"
            f"{hashlib.sha256(UNIT.read_bytes()).hexdigest()}  proxmon-agent.service\n"
        )

    first = client.get("/agent/SHA256SUMS")
    assert first.status_code == 200
    assert first.content.decode() == expected(binary.read_bytes())
    binary.write_bytes(b"rebuilt, one byte longer")
    os.utime(binary, ns=(1, 1))  # same second as before on a coarse clock: size still differs
    assert client.get("/agent/SHA256SUMS").content.decode() == expected(binary.read_bytes())


def test_no_binary_built_yet_is_a_404_that_says_what_to_run(client, settings, tmp_path):
    settings.PROXMON_AGENT_BINARY = tmp_path / "dist/proxmon-agent"
    for url in ("/agent/proxmon-agent", "/agent/SHA256SUMS"):
        response = client.get(url)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/plain")
        text = response.content.decode()
        assert "scripts/build-agent" in text and "PROXMON_AGENT_BINARY" in text
        assert str(tmp_path / "dist/proxmon-agent") in text
    settings.PROXMON_AGENT_BINARY = tmp_path  # a folder: the same answer, not a server error
    assert client.get("/agent/proxmon-agent").status_code == 404
    assert client.get("/agent/SHA256SUMS").status_code == 404


def test_downloads_take_no_writes(client, binary):
    assert client.post("/agent/proxmon-agent").status_code == 405


def run_add_host(name: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("add_host", name, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_add_host_prints_one_install_block_then_the_token_alone(settings):
    settings.PROXMON_PUBLIC_URL = "https://monitor.example.com"
    out, err = run_add_host("pve-host-01")
    lines = out.strip().splitlines()
    token = lines[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert Host.objects.authenticate("pve-host-01", token) is not None
    block = out[: out.rindex(token)]
    assert block.count("bash -eu <<'PROXMON_INSTALL'") == 1
    assert block.rstrip().endswith("PROXMON_INSTALL")
    assert "server=https://monitor.example.com/agent\n" in block
    assert 'server_url = "wss://monitor.example.com/ws/agent"' in block
    assert 'host = "pve-host-01"' in block
    # the token only inside the heredoc that becomes agent.toml: never in a URL or argument
    (line,) = [line for line in block.splitlines() if token in line]
    assert line == f'token = "{token}"'
    assert "umask 077" in block and "sha256sum -c SHA256SUMS" in block
    assert "pve-host-01" in err and "placeholder" not in err


def test_add_host_without_public_url_says_the_address_is_a_placeholder(settings):
    settings.PROXMON_PUBLIC_URL = ""
    out, err = run_add_host("pve2")
    assert "server=https://monitor.example.com/agent" in out
    assert "PROXMON_PUBLIC_URL is not set" in err and "placeholder" in err


def test_plain_http_public_url_gives_ws_and_allow_insecure(settings):
    settings.PROXMON_PUBLIC_URL = "http://10.0.0.5:8000"
    out, _ = run_add_host("pve3")
    assert "server=http://10.0.0.5:8000/agent\n" in out
    assert 'server_url = "ws://10.0.0.5:8000/ws/agent"' in out
    assert "allow_insecure = true" in out


def test_token_page_shows_the_binary_sum_or_says_none_is_built(admin_client, binary, settings):
    settings.PROXMON_PUBLIC_URL = "https://monitor.example.com"
    page = admin_client.post("/admin/hosts/host/add/", {"name": "pve7"}).content.decode()
    assert hashlib.sha256(binary.read_bytes()).hexdigest() in page
    assert 'id="binary-missing"' not in page
    assert page.count("bash -eu &lt;&lt;&#x27;PROXMON_INSTALL&#x27;") == 1
    binary.unlink()
    page = admin_client.post("/admin/hosts/host/add/", {"name": "pve8"}).content.decode()
    assert 'id="binary-missing"' in page and "scripts/build-agent" in page


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "", "a-strong-password-1")
    client.force_login(user)
    return client
