"""Hosts, tokens, the management commands and the admin's onboarding pages."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hosts.models import Host

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_issued_token_is_43_chars_of_base64url_and_stored_only_as_bcrypt_hash():
    host = Host.objects.create(name="pve1")
    token = host.issue_token()
    assert TOKEN.match(token)
    host.refresh_from_db()
    assert host.token_hash.startswith("$2b$")
    assert token not in host.token_hash
    assert Host.objects.authenticate("pve1", token) == host


def test_authenticate_rejects_wrong_token_unknown_host_and_tokenless_host():
    host = Host.objects.create(name="pve1")
    token = host.issue_token()
    Host.objects.create(name="pve2")  # never issued a token
    assert Host.objects.authenticate("pve1", token + "x") is None
    assert Host.objects.authenticate("nope", token) is None
    assert Host.objects.authenticate("pve2", "") is None


def test_revoked_token_stops_working_and_the_new_one_works():
    host = Host.objects.create(name="pve1")
    old = host.issue_token()
    new = host.revoke_token()
    assert Host.objects.authenticate("pve1", old) is None
    assert Host.objects.authenticate("pve1", new) == host


def test_add_host_prints_token_alone_on_the_last_line():
    out, err = run("add_host", "pve-host-01")
    last = out.strip().splitlines()[-1]
    assert TOKEN.match(last)
    assert Host.objects.authenticate("pve-host-01", last) is not None
    assert "pve-host-01" in err


def test_add_host_stores_names_lowercase():
    out, _ = run("add_host", "PVE-Host-02")
    assert Host.objects.get().name == "pve-host-02"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "blank"),
        ("bad_name", "not a valid host name"),
        ("pve.example.com", "not a valid host name"),
        ("pve1-", "not a valid host name"),
        ("x" * 64, "not a valid host name"),
    ],
)
def test_add_host_rejects_bad_names(name, message):
    with pytest.raises(CommandError, match=message):
        run("add_host", name)
    assert not Host.objects.exists()


@pytest.mark.parametrize("name", ["", "bad_name"])
def test_add_host_says_what_is_wrong_once(name):
    with pytest.raises(CommandError) as caught:
        run("add_host", name)
    message = str(caught.value)
    assert len(re.findall(r"\.(\s|$)", message)) == 1, message  # one sentence


@pytest.mark.parametrize("rounds", [4, 6])
def test_unknown_host_costs_the_same_bcrypt_work_as_a_wrong_token(settings, rounds):
    """The dummy hash checked for unknown names has the cost of real tokens, whatever it is."""
    import bcrypt

    from hosts import models

    settings.PROXMON_TOKEN_BCRYPT_ROUNDS = rounds
    host = Host.objects.create(name="pve1")
    host.issue_token()
    checked = []
    real_checkpw = bcrypt.checkpw

    def spy(token, hashed):
        checked.append(hashed.decode())
        return real_checkpw(token, hashed)

    models.bcrypt.checkpw = spy
    try:
        assert Host.objects.authenticate("nope", "a-token") is None
        assert Host.objects.authenticate("pve1", "a-token") is None
    finally:
        models.bcrypt.checkpw = real_checkpw
    cost = [int(hashed.split("$")[2]) for hashed in checked]
    assert cost == [rounds, rounds]
    assert models.dummy_hash(rounds).startswith(f"$2b${rounds:02d}$")


def test_add_host_rejects_duplicates_in_any_case():
    run("add_host", "pve1")
    with pytest.raises(CommandError, match="already exists"):
        run("add_host", "PVE1")


def test_revoke_token_prints_new_token_and_kills_the_old_one():
    out, _ = run("add_host", "pve1")
    old = out.strip().splitlines()[-1]
    out, _ = run("revoke_token", "pve1")
    new = out.strip().splitlines()[-1]
    assert TOKEN.match(new) and new != old
    assert Host.objects.authenticate("pve1", old) is None
    assert Host.objects.authenticate("pve1", new) is not None


def test_revoke_token_of_unknown_host_fails():
    with pytest.raises(CommandError, match="No host named 'ghost'"):
        run("revoke_token", "ghost")


def test_commands_exit_with_status_1_on_bad_input(tmp_path):
    """Through the real command line, as scripts and Ansible call it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    manage = ["manage.py"]
    subprocess.run([sys.executable, *manage, "migrate", "-v0"], env=env, check=True)
    ok = subprocess.run(
        [sys.executable, *manage, "add_host", "pve1"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0 and TOKEN.match(ok.stdout.strip().splitlines()[-1])
    for args in (
        ["add_host", "pve1"],
        ["add_host", "no_good"],
        ["revoke_token", "ghost"],
        ["add_host"],  # usage errors too, not argparse's 2
        ["revoke_token", "pve1", "pve2"],
        ["add_host", "--no-such-option", "pve3"],
    ):
        bad = subprocess.run(
            [sys.executable, *manage, *args], env=env, capture_output=True, text=True
        )
        assert bad.returncode == 1, (args, bad.stderr)
        assert "error" in bad.stderr.lower()
        assert bad.stdout == ""


# --- admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "", "a-strong-password-1")
    client.force_login(user)
    return client


def test_admin_add_host_shows_token_once_with_install_steps(admin_client):
    response = admin_client.post("/admin/hosts/host/add/", {"name": "pve7"}, HTTP_HOST="localhost")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(r'<pre id="token"[^>]*>([^<]+)</pre>', response.content.decode()).group(1)
    assert Host.objects.authenticate("pve7", token) is not None
    page = response.content.decode()
    assert "server_url = &quot;ws://localhost/ws/agent&quot;" in page
    assert "systemctl restart proxmon-agent" in page
    assert "sha256sum -c SHA256SUMS" in page
    assert "install -m 0600 agent.toml &quot;$root/etc/proxmon/agent.toml&quot;" in page
    # the change page afterwards never shows it again
    host = Host.objects.get(name="pve7")
    change = admin_client.get(f"/admin/hosts/host/{host.pk}/change/")
    assert token not in change.content.decode()


def test_admin_add_host_rejects_bad_name(admin_client):
    response = admin_client.post("/admin/hosts/host/add/", {"name": "not a name"})
    assert response.status_code == 200
    assert "not a valid host name" in response.content.decode()
    assert not Host.objects.exists()


def test_admin_install_steps_use_public_url(admin_client, settings):
    settings.PROXMON_PUBLIC_URL = "https://monitor.example.com"
    response = admin_client.post("/admin/hosts/host/add/", {"name": "pve8"})
    assert "wss://monitor.example.com/ws/agent" in response.content.decode()
    assert "allow_insecure" not in response.content.decode()


def test_admin_revoke_asks_first_then_issues_a_new_token(admin_client):
    host = Host.objects.create(name="pve1")
    old = host.issue_token()
    url = f"/admin/hosts/host/{host.pk}/revoke/"
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and b"Yes, revoke" in confirm.content
    assert Host.objects.authenticate("pve1", old) is not None  # a GET changes nothing
    response = admin_client.post(url)
    token = re.search(r'<pre id="token"[^>]*>([^<]+)</pre>', response.content.decode()).group(1)
    assert Host.objects.authenticate("pve1", old) is None
    assert Host.objects.authenticate("pve1", token) is not None


def test_admin_list_shows_status_and_versions(admin_client):
    Host.objects.create(name="pve1", pve_version="8.4.14", zfs_version="2.2.8-pve1")
    page = admin_client.get("/admin/hosts/host/").content.decode()
    assert "pve1" in page and "8.4.14" in page and "2.2.8-pve1" in page
    assert "never connected" in page


def test_admin_pages_need_login(client):
    host = Host.objects.create(name="pve1")
    for url in ("/admin/hosts/host/", f"/admin/hosts/host/{host.pk}/revoke/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_deleting_a_host_deletes_its_samples(admin_client):
    from django.utils import timezone

    from metrics.models import Sample

    host = Host.objects.create(name="pve1")
    Sample.objects.create(host=host, tier="fast", collected_at=timezone.now(), body=b"")
    response = admin_client.post(f"/admin/hosts/host/{host.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Host.objects.exists() and not Sample.objects.exists()


def test_admin_labels_spell_pve_zfs_and_units(admin_client):
    host = Host.objects.create(name="pve1", pve_version="8.4.14", clock_skew_s=1.5)
    listing = admin_client.get("/admin/hosts/host/").content.decode()
    assert "PVE version" in listing and "ZFS version" in listing
    assert "Pve version" not in listing and "Zfs version" not in listing
    change = admin_client.get(f"/admin/hosts/host/{host.pk}/change/").content.decode()
    assert "Clock skew (s)" in change and "Clock skew s" not in change


def test_host_change_page_has_no_save_buttons_as_nothing_is_editable(admin_client):
    host = Host.objects.create(name="pve1")
    page = admin_client.get(f"/admin/hosts/host/{host.pk}/change/").content.decode()
    for button in ('name="_save"', 'name="_continue"', 'name="_addanother"'):
        assert button not in page
    assert f"/admin/hosts/host/{host.pk}/delete/" in page  # deleting stays possible
    assert "Revoke token and issue a new one" in page
    # the add page still saves
    assert 'name="_save"' in admin_client.get("/admin/hosts/host/add/").content.decode()


def test_token_page_says_when_the_server_address_is_a_guess(admin_client, settings):
    settings.PROXMON_PUBLIC_URL = ""
    page = admin_client.post(
        "/admin/hosts/host/add/", {"name": "pve7"}, HTTP_HOST="127.0.0.1:8000"
    ).content.decode()
    assert 'id="url-guessed"' in page
    assert "is a guess" in page and "PROXMON_PUBLIC_URL" in page
    assert "ws://127.0.0.1:8000/ws/agent" in page
    settings.PROXMON_PUBLIC_URL = "https://monitor.example.com"
    page = admin_client.post("/admin/hosts/host/add/", {"name": "pve8"}).content.decode()
    assert 'id="url-guessed"' not in page and "is a guess" not in page


@pytest.mark.parametrize(
    "public_url, dialled",
    [
        ("https://monitor.example.com", "wss://monitor.example.com/ws/agent"),
        ("wss://monitor.example.com", "wss://monitor.example.com/ws/agent"),
        ("http://10.0.0.5:8000", "ws://10.0.0.5:8000/ws/agent"),
        ("ws://10.0.0.5:8000", "ws://10.0.0.5:8000/ws/agent"),
        ("https://example.com/proxmon", "wss://example.com/proxmon/ws/agent"),
    ],
)
def test_agent_url_keeps_tls_for_every_secure_public_url(settings, public_url, dialled):
    from hosts.onboarding import agent_url

    settings.PROXMON_PUBLIC_URL = public_url
    assert agent_url() == dialled
