"""/backups/, the host page's Backups and Replication sections and the search's backup column,
through Django's test client, from the fake host's real medium sample (agent/tests/fakehost)."""

from __future__ import annotations

import html
import re

import pytest
from django.utils import timezone

from agent.collect import collect_tier
from agent.tests import fakehost
from dashboard.tests.test_pages import healthy
from hosts.models import Host
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


@pytest.fixture(scope="module")
def fake_medium(tmp_path_factory) -> dict:
    fake = fakehost.build(tmp_path_factory.mktemp("fake"), "healthy", 3)
    data, errors = collect_tier(fake.machine(), "medium")
    assert errors == {}
    return data


def make_host(name: str, medium: dict | None, online: bool = True) -> Host:
    host = Host.objects.create(name=name, token_hash="hash")
    now = timezone.now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for seq, tier in enumerate(("fast", "medium", "slow")):
        data = medium if tier == "medium" and medium is not None else healthy(tier)
        assert ingest(host.pk, "hash", frames.sample(tier, seq, stamp, data=data), now, None)
    Host.objects.filter(pk=host.pk).update(
        status=Host.Status.ONLINE if online else Host.Status.OFFLINE, last_seen_at=now
    )
    return host


def rows(page: str) -> list[str]:
    """The text of each backup row, tags stripped."""
    body = page.split('<table class="data backups', 1)[1].split("</table>", 1)[0]
    found = re.findall(r"<tr class=\"backup-(\w+)[^\"]*\"[^>]*>(.*?)</tr>", body, re.S)
    return [
        f"{state}: {' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', cells)).split())}"
        for state, cells in found
    ]


def test_backups_page_needs_a_login(client):
    response = client.get("/backups/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_fleet_page_lists_every_guest_worst_first(user_client, fake_medium):
    make_host("pve-a", fake_medium)
    make_host("pve-b", None)  # an older agent: no backups source
    page = user_client.get("/backups/").content.decode()
    found = rows(page)
    assert [line.split(":")[0] for line in found] == [
        "failed",
        "uncovered",
        "uncovered",
        "uncovered",
        "ok",
    ]
    assert found[0].startswith("failed: pve-a ct 101 test-lxc-101 last backup failed 3 days ago")
    assert "failed : command 'set -o pipefail" in found[0]
    # never backed up first among the uncovered, then the oldest backup
    assert found[1].startswith("uncovered: pve-a vm 102 second-vm-102 not covered by any job none")
    assert found[2].startswith("uncovered: pve-a vmid 105 not covered by any job")
    assert found[3].startswith("uncovered: pve-a vmid 103 ") and "local" in found[3]
    assert found[4].startswith("ok: pve-a vm 100 test-qemu-100 ok 6 h ago pbs-local verified ok")
    assert "No backup data yet from pve-b." in page
    assert "5 guests on the fleet: 1 last backup failed, 3 not covered by any job, 1 ok" in page
    assert 'aria-current="page">Backups</a>' in page


@pytest.mark.parametrize(
    ("query", "states"),
    [
        ("?show=failed", ["failed"]),
        ("?show=uncovered", ["uncovered"] * 3),
        ("?show=problems", ["failed"]),
        ("?older=36", ["failed", "uncovered", "uncovered", "uncovered"]),
        ("?older=720", ["uncovered", "uncovered", "uncovered"]),  # 103 and 105 are from 2025
        ("?show=failed&older=720", []),
        ("?show=nonsense&older=-5", ["failed", "uncovered", "uncovered", "uncovered", "ok"]),
        ("?older=abc", ["failed", "uncovered", "uncovered", "uncovered", "ok"]),
    ],
)
def test_fleet_page_filters(user_client, fake_medium, query, states):
    make_host("pve-a", fake_medium)
    page = user_client.get("/backups/" + query).content.decode()
    found = rows(page) if "<table" in page else []
    assert [line.split(":")[0] for line in found] == states
    if not states:
        assert "No guest matches these filters." in page


def test_fleet_fragment_for_htmx(user_client, fake_medium):
    make_host("pve-a", fake_medium)
    response = user_client.get(
        "/backups/?show=failed", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="backups"
    )
    page = response.content.decode()
    assert page.startswith('<div id="backups">') and "<html" not in page


def test_host_page_sections(user_client, fake_medium):
    make_host("pve-a", fake_medium)
    page = user_client.get("/hosts/pve-a/").content.decode()
    backups = page.split('<section id="backups">', 1)[1].split("</section>", 1)[0]
    assert "ct 101 test-lxc-101" in backups and "vm 102 second-vm-102" in backups
    assert "3 backup jobs: backup-1d25bba8-fcc5 (02:30 to pbs-local)" in backups
    replication = page.split('<section id="replication">', 1)[1].split("</section>", 1)[0]
    assert "100-0" in replication and "1: <span" in replication
    assert "no such volid" in replication and "mon..fri 22:00" in replication
    # the status reasons name the guest and the job
    assert "ct 101 test-lxc-101: last backup failed" in page
    assert "replication 100-0 to node2: failed once" in page
    assert "ct 101 test-lxc-101: last backup 3\xa0days ago" in page


def test_host_without_backup_data_says_so(user_client):
    make_host("pve-old", None)
    page = user_client.get("/hosts/pve-old/").content.decode()
    assert "No backup data yet." in page and "No replication data yet." in page


def test_agent_text_is_escaped(user_client, fake_medium):
    import copy

    medium = copy.deepcopy(fake_medium)
    medium["backups"]["guests"][0]["name"] = "<script>alert(1)</script>"
    medium["backups"]["storage_errors"] = {"<b>pbs</b>": "<img src=x onerror=alert(1)>"}
    make_host("pve-a", medium)
    for url in ("/backups/", "/hosts/pve-a/"):
        page = user_client.get(url).content.decode()
        assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>pbs" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_search_shows_the_newest_backup(user_client, fake_medium):
    make_host("pve-a", fake_medium)  # its guest_configs fill the guest index
    page = user_client.get("/vms/?q=test-").content.decode()
    assert "<th>newest backup</th>" in page
    names = re.findall(r'<td data-label="guest" class="name" title="([^"]+)"', page)
    cells = re.findall(r'<td data-label="newest backup">(.*?)</td>', page)
    assert names == ["test-lxc-101", "test-qemu-100"]
    assert "3 days ago" in cells[0] and "6 h ago" in cells[1]
    page = user_client.get("/vms/?q=second-vm").content.decode()
    [cell] = re.findall(r'<td data-label="newest backup">(.*?)</td>', page)
    assert "none" in cell
