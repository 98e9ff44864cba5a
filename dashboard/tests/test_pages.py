"""Every page through Django's test client: content, search modes, filters and bad input."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from hosts.models import Host
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


def recent(days: float = 1) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def healthy_fast() -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    pool = data["zfs_pools"]["pools"][0]
    pool["scan"].update(start_time=recent(), end_time=recent())
    pool["last_scrub_end"] = recent()
    return data


def healthy(tier: str) -> dict:
    """The frames' data with fresh scrubs and snapshots and no pending update: a green host."""
    if tier == "fast":
        return healthy_fast()
    data = copy.deepcopy(frames.DATA[tier])
    if tier == "medium":
        dataset = data["datasets"]["datasets"][0]
        dataset.update(oldest_snapshot=recent(30), newest_snapshot=recent(0.5))
    else:
        data["system"]["pending_updates"] = 0
    return data


def make_host(name: str, fast: dict | None = None, tiers=("fast", "medium", "slow"), online=True):
    host = Host.objects.create(name=name, token_hash="hash")
    now = timezone.now()
    for i, tier in enumerate(tiers):
        data = fast if tier == "fast" and fast is not None else healthy(tier)
        frame = frames.sample(tier, i, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), data=data)
        ingest(host.pk, "hash", frame, now, None)
    Host.objects.filter(pk=host.pk).update(
        status=Host.Status.ONLINE if online else Host.Status.OFFLINE, last_seen_at=now
    )
    return host


def degraded() -> dict:
    data = healthy_fast()
    data["zfs_pools"]["pools"][0].update(name="tank", health="DEGRADED", degraded_vdevs=1)
    return data


def full(pct: float) -> dict:
    data = healthy_fast()
    pool = data["zfs_pools"]["pools"][0]
    pool["capacity_pct"] = pct
    return data


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", "/vms/", "/vms/?q=web", "/hosts/pve1/", "/hosts/pve1/metrics.json"]
)
def test_pages_redirect_to_login_without_a_session(client, url):
    make_host("pve1")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_login_page_logs_in_and_is_rate_limited(client, django_user_model, settings):
    from metrics.limits import login_limiter

    login_limiter.reset()
    settings.PROXMON_LOGIN_FAILURES_PER_MINUTE = 3
    django_user_model.objects.create_user("op", password="right-password-1")
    for _ in range(3):
        response = client.post("/login/", {"username": "op", "password": "wrong"})
        assert response.status_code == 200 and b"did not match" in response.content
    response = client.post("/login/", {"username": "op", "password": "right-password-1"})
    assert response.status_code == 429 and b"Too many failed logins" in response.content
    login_limiter.reset()
    response = client.post("/login/", {"username": "op", "password": "right-password-1"})
    assert response.status_code == 302 and response["Location"] == "/"


# --- overview -------------------------------------------------------------------------------


def test_overview_shows_each_host_with_light_reasons_and_numbers(user_client):
    make_host("pve-ok")
    make_host("pve-bad", degraded())
    make_host("pve-full", full(87.4))
    make_host("pve-gone", online=False)
    page = user_client.get("/").content.decode()
    assert "4 hosts: 1 critical, 1 warning, 1 offline" in page
    assert 'id="host-pve-bad"' in page and 'data-level="critical"' in page
    assert "tank DEGRADED" in page
    assert "rpool 87\xa0% full" in page
    assert "offline for" in page
    assert "12\xa0%" in page  # CPU of frames.HOST, the number and its unit never apart
    # worst first: critical, warning, offline, ok
    order = [page.index(f'id="host-{n}"') for n in ("pve-bad", "pve-full", "pve-gone", "pve-ok")]
    assert order == sorted(order)


def test_overview_sorts_by_name_and_filters_by_status_and_text(user_client):
    make_host("b-ok")
    make_host("a-bad", degraded())
    page = user_client.get("/?sort=name").content.decode()
    assert page.index('id="host-a-bad"') < page.index('id="host-b-ok"')
    page = user_client.get("/?status=ok").content.decode()
    assert 'id="host-b-ok"' in page and 'id="host-a-bad"' not in page
    page = user_client.get("/?q=degraded").content.decode()
    assert 'id="host-a-bad"' in page and 'id="host-b-ok"' not in page


def test_overview_fragment_for_htmx(user_client):
    make_host("pve1")
    response = user_client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="fleet")
    body = response.content.decode()
    assert body.startswith('<div id="fleet"') and "<html" not in body


def test_overview_without_hosts_says_how_to_add_one(user_client):
    assert b"No hosts yet" in user_client.get("/").content


@pytest.mark.parametrize(
    "query",
    ["?status=nonsense&sort=%00", "?q=" + "x" * 10000, "?q=%F0%9F%92%A9&status=ok", "?sort[]=1"],
)
def test_overview_survives_absurd_query_strings(user_client, query):
    make_host("pve1")
    assert user_client.get("/" + query).status_code == 200


# --- host detail ----------------------------------------------------------------------------


def test_host_detail_shows_versions_pools_snapshots_storage_and_guests(user_client):
    make_host("pve1")
    page = user_client.get("/hosts/pve1/").content.decode()
    for text in ("8.4.14", "2.2.8-pve1", "6.8.12-15-pve", 'id="pool-rpool"', "rpool/data",
                 "local-zfs", "nginx-proxy", "10.0.4.17", 'id="charts"'):  # fmt: skip
        assert text in page, text


def test_host_detail_guests_are_sortable(user_client):
    make_host("pve1")
    page = user_client.get("/hosts/pve1/?sort=vmid").content.decode()
    assert page.index("nginx-proxy") < page.index(">dns<")
    page = user_client.get("/hosts/pve1/?sort=name").content.decode()
    assert page.index(">dns<") < page.index("nginx-proxy")
    assert user_client.get("/hosts/pve1/?sort=../../etc").status_code == 200


def test_host_detail_of_unknown_or_invalid_host_is_404(user_client):
    assert user_client.get("/hosts/nope/").status_code == 404
    assert user_client.get("/hosts/bad_name!/").status_code == 404
    assert user_client.get("/hosts/" + "a" * 300 + "/").status_code == 404


def test_host_detail_of_a_host_without_samples(user_client):
    Host.objects.create(name="fresh")
    page = user_client.get("/hosts/fresh/").content.decode()
    assert "never connected" in page and "No ZFS pools reported" in page


def test_metrics_json_gives_the_chart_series(user_client):
    make_host("pve1")
    data = user_client.get("/hosts/pve1/metrics.json?hours=24").json()
    assert data["hours"] == 24 and len(data["t"]) == 1
    assert data["cpu"] == [12.5] and data["load1"] == [0.1]
    for hours in ("abc", "-5", "1e309", "nan"):
        assert user_client.get(f"/hosts/pve1/metrics.json?hours={hours}").status_code == 200
    assert user_client.get("/hosts/pve1/metrics.json?hours=9999").json()["hours"] == 48


def test_numbers_stay_with_their_units(user_client):
    make_host("pve1")
    page = user_client.get("/hosts/pve1/").content.decode()
    assert "(40\xa0%)" in page and "40 %" not in page
    assert "373\xa0GiB of 931\xa0GiB" in page


# --- pieces of every page -------------------------------------------------------------------


def test_every_page_names_a_favicon_that_is_served(client, user_client):
    make_host("pve1")
    for url in ("/", "/vms/", "/hosts/pve1/"):
        page = user_client.get(url).content.decode()
        icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
        assert icon, url
    assert client.get(icon.group(1)).status_code == 200
    assert '<link rel="icon"' in Client().get("/login/").content.decode()


def test_admin_pages_name_the_favicon_too(admin_client):
    make_host("pve1")
    for url in ("/admin/", "/admin/hosts/host/", "/admin/login/"):
        page = admin_client.get(url, follow=True).content.decode()
        assert '<link rel="icon" href="/static/favicon.svg"' in page, url


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def fleet(db):
    make_host("pve1")
    other = copy.deepcopy(frames.DATA["medium"])
    config = other["guest_configs"][0]
    config.update(vmid=100, name="mail", ips=["10.0.5.3", "fd00::5"], macs=["BC:24:11:00:00:01"],
                  tags=["mail"])  # fmt: skip
    host = Host.objects.create(name="pve2", token_hash="hash")
    now = timezone.now()
    ingest(host.pk, "hash", frames.sample("medium", 1, now, data=other), now, None)


@pytest.mark.parametrize(
    ("query", "mode", "found"),
    [
        ("nginx", "name", {"nginx-proxy"}),
        ("NGINX-pro", "name", {"nginx-proxy"}),
        ("10.0.4.17", "ip", {"nginx-proxy"}),
        ("10.0.", "ip", {"nginx-proxy", "mail"}),
        ("10.0.5", "ip", {"mail"}),
        ("fd00::5", "ip", {"mail"}),
        ("bc:24:11:aa:bb:cc", "mac", {"nginx-proxy"}),
        ("BC-24-11-00-00-01", "mac", {"mail"}),
        ("bc:24:11", "mac", {"nginx-proxy", "mail"}),
        ("100", "vmid", {"nginx-proxy", "mail"}),
        ("101", "vmid", {"dns"}),
        ("#web", "tag", {"nginx-proxy"}),
        ("tag:mail", "tag", {"mail"}),
        ("prod", "name", {"nginx-proxy"}),  # a whole tag typed as text
        ("nothing-like-this", "name", set()),
    ],
)
def test_search_modes(user_client, fleet, query, mode, found):
    from urllib.parse import quote

    response = user_client.get(f"/vms/?q={quote(query)}")
    assert response.status_code == 200
    context = response.context
    assert context["mode"] == mode
    assert {g.name for g in context["results"]} == found


def test_search_results_link_to_the_host_and_keep_the_query_in_the_url(user_client, fleet):
    page = user_client.get("/vms/?q=10.0.4.17").content.decode()
    assert 'href="/hosts/pve1/"' in page and 'value="10.0.4.17"' in page


@pytest.mark.parametrize(
    "query", ["", "%00", "x" * 5000, "%", "_", "' OR 1=1 --", "::::", "1" * 40]
)
def test_search_survives_absurd_queries(user_client, fleet, query):
    assert user_client.get("/vms/", {"q": query}).status_code == 200


def test_search_page_has_no_live_light_that_reads_as_disconnected(user_client, fleet):
    # The search page does not update itself: a grey dot there said "disconnected".
    assert 'id="live"' not in user_client.get("/vms/?q=mail").content.decode()
    overview = user_client.get("/").content.decode()
    assert re.search(r'<span id="live"[^>]*>.*connecting.*</span>', overview)


def test_search_fragment_for_htmx(user_client, fleet):
    body = user_client.get("/vms/?q=mail", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results").content
    assert body.decode().startswith('<div id="results">')
