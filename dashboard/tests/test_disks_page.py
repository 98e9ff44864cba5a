"""The host page's Disks section and the vdev tree's SMART column, from the fake host's real
agent samples (fast: pools, slow: disks) through ingest."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agent import collect
from agent.collect import collect_tier
from agent.tests import fakehost
from dashboard.disks import disk_key
from dashboard.tests.test_pages import healthy
from hosts.models import Host
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(collect, "_not_applicable", set())
    monkeypatch.setattr(collect, "_failing", {})


def make_host(tmp_path, name: str, scenario: str, change=None) -> Host:
    fake = fakehost.build(tmp_path / scenario, scenario, 3)
    machine = fake.machine()
    host = Host.objects.create(name=name, token_hash="hash")
    now = timezone.now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for seq, tier in enumerate(("fast", "medium", "slow")):
        data = healthy(tier) if tier == "medium" else collect_tier(machine, tier)[0]
        if change and tier == "slow":
            change(data)
        assert ingest(host.pk, "hash", frames.sample(tier, seq, stamp, data=data), now, None)
    Host.objects.filter(pk=host.pk).update(status=Host.Status.ONLINE, last_seen_at=now)
    return host


def section(page: str) -> str:
    return page.split('<section id="disks">', 1)[1].split("</section>", 1)[0]


def row(page: str, device: str) -> str:
    return section(page).split(f'data-disk="{device}">', 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("/dev/sda1", "sda"),
        ("sdb", "sdb"),
        ("/dev/disk/by-id/ata-WDC_X_WD-1-part1", "ata-WDC_X_WD-1"),
        ("ata-WDC_X_WD-1", "ata-WDC_X_WD-1"),
        ("nvme0n1p3", "nvme0n1"),
        ("mirror-0", "mirror-0"),
    ],
)
def test_vdev_names_reduce_to_the_disk(name, key):
    assert disk_key(name) == key


def test_healthy_host_shows_each_disk_its_pool_and_the_sleeping_one(tmp_path, user_client):
    make_host(tmp_path, "pve-d", "healthy")
    page = user_client.get("/hosts/pve-d/").content.decode()
    sda = row(page, "sda")
    assert "WDC WD20EFRX-68EUZN0" in sda and "tank" in sda and "PASSED" in sda
    assert "33&nbsp;°C" in sda and "71605&nbsp;h" in sda
    sdc = row(page, "sdc")
    assert "asleep since" in sdc and "no values yet" in sdc and "tank" in sdc
    nvme = row(page, "nvme0n1")
    assert "Samsung SSD 970 EVO Plus 250GB" in nvme and "0&nbsp;%" in nvme
    # The vdev tree marks its leaves with their disk's SMART state.
    tree = page.split('<table class="vdevs">', 1)[1].split("</table>", 1)[0]
    leaf = tree.split("/dev/sda1", 1)[1].split("</tr>", 1)[0]
    assert 'class="smart-ok">PASSED' in leaf
    assert "SMART health" not in page


def test_failing_disks_are_reasons_and_red_rows(tmp_path, user_client):
    make_host(tmp_path, "pve-f", "degraded")
    page = user_client.get("/hosts/pve-f/").content.decode()
    assert "sdb: SMART health FAILED" in page
    assert "sdb: 1975 reallocated, 8 pending sectors" in page
    assert "nvme0n1: critical warning 0x10" in page
    assert 'class="bad"' in section(page).split('data-disk="sdb"', 1)[0].rsplit("<tr", 1)[1]
    assert "not readable: smartctl: Smartctl open device" in row(page, "sdd")
    assert "7" in row(page, "nvme1n1")  # media errors
    # The degraded pool's text tree names its leaves sda..sdk: sdb is marked failed there.
    tree = page.split('<table class="vdevs">', 1)[1].split("</table>", 1)[0]
    leaf = tree.split(">sdb <span", 1)[1].split("</tr>", 1)[0]  # "sdb (resilvering)"
    assert 'class="smart-critical">SMART health FAILED' in leaf


def test_agent_text_in_disks_is_escaped(tmp_path, user_client):
    def hostile(data):
        data["disks"][0]["model"] = "<script>alert(1)</script>"

    make_host(tmp_path, "pve-x", "healthy", hostile)
    page = user_client.get("/hosts/pve-x/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(page)


def test_host_without_disk_data_says_so(tmp_path, user_client):
    make_host(tmp_path, "pve-n", "nozfs")
    page = user_client.get("/hosts/pve-n/").content.decode()
    assert "No disk data yet" in section(page)
