"""/drift/, the fleet drift page, through Django's test client: slow samples go through the
protocol's validation and the real ingest, as a registered agent's would."""

from __future__ import annotations

import html
import re

import pytest
from django.utils import timezone

from hosts.models import Host
from metrics.decode import validate_sample
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db

# what an agent of the drift release sends (agent/collectors/system.py), on a host in step
CURRENT = {
    **frames.SYSTEM,
    "pending_updates": 0,
    "kernel_newest": "6.8.12-15-pve",
    "kernel_pinned": None,
    "zfs_kmod": "2.2.8-pve1",
    "zfs_userland": "2.2.8-pve1",
    "unavailable": {},
}


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


def store(name: str, system: dict | None, errors: dict | None = None) -> Host:
    """A host whose latest slow sample holds `system` (None: the host never sent one)."""
    host = Host.objects.create(name=name, token_hash="hash")
    if system is None and not errors:
        return host
    now = timezone.now()
    data = {} if system is None else {"system": system}
    frame = frames.sample("slow", 1, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), data, errors)
    assert validate_sample(frame) is None
    assert ingest(host.pk, "hash", frame, now, None)
    Host.objects.filter(pk=host.pk).update(status=Host.Status.ONLINE, last_seen_at=now)
    return host


@pytest.fixture
def fleet():
    store("pve-a", CURRENT)
    store("pve-b", {**CURRENT, "kernel_newest": "6.8.12-16-pve", "pending_updates": 12})
    store("pve-c", {**CURRENT, "pve_version": "8.3.5", "zfs_kmod": "2.2.7-pve2"})
    store("pve-d", {**CURRENT, "kernel_newest": "6.17.2-1-pve", "kernel_pinned": "6.8.12-15-pve"})
    # an agent from before the drift keys: the five versions only
    store("pve-old", {**frames.SYSTEM, "pending_updates": 0, "agent_version": "0.0.9"})
    store("pve-new", None)  # added, never sent a slow sample


def rows(page: str) -> dict[str, dict[str, str]]:
    """Each host's cells: {host: {column: "classes | text"}}, tags stripped."""
    body = page.split('<table class="data drift">', 1)[1].split("</tbody>", 1)[0]
    found = {}
    for host, cells in re.findall(r'<tr data-host="([^"]+)"[^>]*>(.*?)</tr>', body, re.S):
        found[host] = {
            label: f"{classes.strip()} | {text(cell)}"
            for label, classes, cell in re.findall(
                r'<td data-label="(\w+)" class="([^"]*)">(.*?)</td>', cells, re.S
            )
            if label != "host"
        }
        if "not yet reported" in cells:
            found[host]["all"] = "not yet reported"
    return found


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def order(page: str) -> list[str]:
    return re.findall(r'<tr data-host="([^"]+)"', page)


def test_drift_page_needs_a_login(client):
    response = client.get("/drift/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_every_host_with_its_versions_and_what_differs(user_client, fleet):
    page = user_client.get("/drift/").content.decode()
    found = rows(page)
    assert order(page) == ["pve-a", "pve-b", "pve-c", "pve-d", "pve-new", "pve-old"]
    a = found["pve-a"]
    assert a["pve"] == "drift-pve | 8.4.14"
    assert a["kernel"] == "drift-kernel | 6.8.12-15-pve"
    assert a["boot"] == "drift-boot | 6.8.12-15-pve"
    assert a["zfs_userland"] == "drift-zfs_userland | 2.2.8-pve1"
    assert a["agent"] == "drift-agent | 0.1.0"
    assert a["updates"] == "drift-updates | 0"
    # a newer kernel installed: reboot needed, and into which kernel
    assert found["pve-b"]["boot"] == "drift-boot flag flag-reboot | 6.8.12-16-pve reboot needed"
    assert found["pve-b"]["updates"] == "drift-updates flag flag-pending | 12"
    # older than most hosts: marked; ZFS module and userland apart: both flagged
    assert found["pve-c"]["pve"] == "drift-pve differs older | 8.3.5 ▼ older"
    assert found["pve-c"]["zfs_kmod"] == (
        "drift-zfs_kmod differs older flag flag-mismatch | 2.2.7-pve2 ▼ older ≠ userland"
    )
    assert found["pve-c"]["zfs_userland"] == (
        "drift-zfs_userland flag flag-mismatch | 2.2.8-pve1 ≠ module"
    )
    # pinned to the running kernel: no reboot, whatever is installed
    assert found["pve-d"]["boot"] == "drift-boot | 6.8.12-15-pve (pinned)"
    # an older agent: what it cannot report is unknown, not an error
    old = found["pve-old"]
    assert old["boot"] == "drift-boot | unknown"
    assert old["zfs_userland"] == "drift-zfs_userland | unknown"
    assert old["zfs_kmod"] == "drift-zfs_kmod | unknown"
    assert old["pve"] == "drift-pve | 8.4.14"
    assert old["agent"] == "drift-agent differs older | 0.0.9 ▼ older"
    assert "upgrade the agent" in page
    # an offline host's versions may be old: the host cell dates them
    assert re.search(
        r'<td data-label="host" class="name" title="versions as of (\S+ )?\d\d:\d\d UTC">', page
    )
    assert found["pve-new"] == {"all": "not yet reported"}
    assert 'pve-new</a> <span class="muted">(never connected)</span>' in page
    assert "6 hosts: 1 needs a reboot, 1 with ZFS userland and module apart" in page
    assert "1 with pending updates, 1 not yet reported, 1 with an agent too old" in page
    # the fleet's usual values, and the legend that explains the marks
    usual = page.split('<tr class="usual">', 1)[1].split("</tr>", 1)[0]
    assert '8.4.14 <span class="muted">(4 of 5)</span>' in usual
    assert '0.1.0 <span class="muted">(4 of 5)</span>' in usual
    assert "older / newer than the version most hosts run" in page
    assert 'aria-current="page">Drift</a>' in page


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("pve", ["pve-c", "pve-a", "pve-b", "pve-d", "pve-old", "pve-new"]),
        # descending: ties stay by name, the unknown stay last
        ("-pve", ["pve-a", "pve-b", "pve-d", "pve-old", "pve-c", "pve-new"]),
        ("boot", ["pve-b", "pve-a", "pve-c", "pve-d", "pve-new", "pve-old"]),
        ("zfs_kmod", ["pve-c", "pve-a", "pve-b", "pve-d", "pve-new", "pve-old"]),
        ("agent", ["pve-old", "pve-a", "pve-b", "pve-c", "pve-d", "pve-new"]),
        ("-updates", ["pve-b", "pve-a", "pve-c", "pve-d", "pve-old", "pve-new"]),
        ("-name", ["pve-old", "pve-new", "pve-d", "pve-c", "pve-b", "pve-a"]),
        ("nonsense", ["pve-a", "pve-b", "pve-c", "pve-d", "pve-new", "pve-old"]),
    ],
)
def test_sorted_by_each_column(user_client, fleet, sort, expected):
    assert order(user_client.get(f"/drift/?sort={sort}").content.decode()) == expected


def test_sort_links_are_real_addresses_and_the_current_one_reverses(user_client, fleet):
    page = user_client.get("/drift/?sort=pve").content.decode()
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    links = re.findall(r'<a href="([^"]+)" hx-get="\1" hx-target="#drift"', head)
    assert links == [
        "?sort=name",
        "?sort=-pve",
        "?sort=kernel",
        "?sort=boot",
        "?sort=zfs_userland",
        "?sort=zfs_kmod",
        "?sort=agent",
        "?sort=updates",
    ]
    assert 'aria-sort="ascending">Proxmox VE ↑' in head
    page = user_client.get("/drift/?sort=-pve").content.decode()
    assert '<a href="?sort=pve"' in page and 'aria-sort="descending">Proxmox VE ↓' in page


def test_fragment_for_htmx(user_client, fleet):
    response = user_client.get("/drift/?sort=boot", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="drift")
    page = response.content.decode()
    assert page.startswith('<div id="drift">') and "<html" not in page
    assert order(page)[0] == "pve-b"


def test_a_failed_system_source_says_why(user_client):
    store("pve-a", CURRENT)
    store("pve-broken", None, errors={"system": "apt list --upgradable: exit status 100"})
    found = rows(user_client.get("/drift/").content.decode())
    assert found["pve-broken"] == {"all": "not yet reported"}
    page = user_client.get("/drift/").content.decode()
    assert "not yet reported: <span" in page and "exit status 100" in page


def test_no_hosts(user_client):
    page = user_client.get("/drift/").content.decode()
    assert "No hosts yet." in page and "0 hosts." in page


def test_hostile_version_strings_are_escaped_and_cleaned(user_client):
    hostile = '<script>alert("x")</script>\u202e9.9'
    store("pve-a", CURRENT)
    store("pve-evil", {**CURRENT, "pve_version": hostile, "kernel_newest": '6.99"><img src=x>'})
    page = user_client.get("/drift/").content.decode()
    assert "<script>alert" not in page and "<img src=x>" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;9.9" in page
    found = rows(page)
    assert found["pve-evil"]["boot"].startswith('drift-boot flag flag-reboot | 6.99">')
    # the hostile value orders without an error, as a version: it never crashes the sort
    for sort in ("pve", "-pve", "boot", "-boot"):
        assert user_client.get(f"/drift/?sort={sort}").status_code == 200


def test_a_kept_row_is_rendered_again_when_the_fleet_changes_its_marks(user_client):
    store("pve-a", CURRENT)
    store("pve-b", {**CURRENT, "pve_version": "9.1.1"})
    assert rows(user_client.get("/drift/").content.decode())["pve-a"]["pve"] == (
        "drift-pve differs older | 8.4.14 ▼ older"  # a tie goes to the newest
    )
    store("pve-c", CURRENT)  # now most hosts run 8.4.14: pve-a's row says something else
    found = rows(user_client.get("/drift/").content.decode())
    assert found["pve-a"]["pve"] == "drift-pve | 8.4.14"
    assert found["pve-b"]["pve"] == "drift-pve differs newer | 9.1.1 ▲ newer"
