"""The lights' rules as the pages show them: one level per pool and storage, wherever it shows,
and an offline host's last known problems."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest

from dashboard.tests.test_pages import degraded, full, healthy_fast, make_host
from metrics.status import Reason, Thresholds, evaluate
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


def card(page: str, name: str) -> str:
    found = re.search(rf'<article class="card[^"]*" id="host-{name}".*?</article>', page, re.S)
    assert found, f"no card for {name}"
    return found.group(0)


def pool_box(page: str, name: str) -> str:
    found = re.search(rf'<article class="pool-box[^"]*" id="pool-{name}".*?</article>', page, re.S)
    assert found, f"no pool box for {name}"
    return found.group(0)


def chip(card_html: str, pool: str) -> str:
    found = re.search(rf'<span class="(pool[^"]*)"[^>]*>{pool}\b', card_html)
    assert found, f"no chip for {pool}"
    return found.group(1)


@pytest.mark.parametrize(
    ("pct", "level"), [(92.0, "critical"), (90.0, "critical"), (85.0, "warning"), (40.0, "ok")]
)
def test_a_pools_fill_has_the_level_of_its_reason_on_card_and_host_page(user_client, pct, level):
    make_host("pve1", full(pct))
    overview = user_client.get("/").content.decode()
    assert chip(card(overview, "pve1"), "rpool") == f"pool pool-{level}"
    box = pool_box(user_client.get("/hosts/pve1/").content.decode(), "rpool")
    assert f'class="pool-box level-{level}' in box
    assert f'class="bar fill-{level}"' in box
    if level != "ok":
        assert "badge-ok" not in box, "a full pool has no green badge"
        assert f'<li class="reason-{level}">rpool {int(pct)}\xa0% full</li>' in overview


def test_pool_levels_follow_the_thresholds_in_the_settings(user_client, settings):
    settings.PROXMON_STATUS_POOL_WARNING_PCT = 30
    settings.PROXMON_STATUS_POOL_CRITICAL_PCT = 35
    make_host("pve1", full(40.0))
    overview = user_client.get("/").content.decode()
    assert chip(card(overview, "pve1"), "rpool") == "pool pool-critical"
    box = pool_box(user_client.get("/hosts/pve1/").content.decode(), "rpool")
    assert 'class="bar fill-critical"' in box


def test_a_degraded_pool_is_red_everywhere(user_client):
    make_host("pve1", degraded())
    assert chip(card(user_client.get("/").content.decode(), "pve1"), "tank") == "pool pool-critical"
    box = pool_box(user_client.get("/hosts/pve1/").content.decode(), "tank")
    assert 'class="pool-box level-critical' in box and "badge-critical" in box


def test_a_full_storage_bar_has_the_level_of_its_reason(user_client):
    data = healthy_fast()
    data["storage"][0].update(used=9500, total=10000)
    data["storage"].append({**copy.deepcopy(data["storage"][0]), "storage": "roomy", "used": 10})
    make_host("pve1", data)
    page = user_client.get("/hosts/pve1/").content.decode()
    full_row = re.search(
        r'<tr class="warn"><td class="name"[^>]*>local-zfs</td>.*?</tr>', page, re.S
    )
    assert full_row and 'class="bar fill-warning"' in full_row.group(0)
    roomy_row = re.search(r'<tr class=""><td class="name"[^>]*>roomy</td>.*?</tr>', page, re.S)
    assert roomy_row and 'class="bar fill-ok"' in roomy_row.group(0)


def test_offline_host_keeps_its_last_known_problems_dimmed_on_its_card(user_client):
    make_host("pve-gone", degraded(), online=False)
    html = card(user_client.get("/").content.decode(), "pve-gone")
    assert 'data-level="offline"' in html and "light-offline" in html
    assert "offline for" in html
    assert '<div class="last-known">' in html, html
    current, dimmed = html.split('<div class="last-known">')
    assert "offline for" in current and "DEGRADED" not in current
    assert "as of" in dimmed
    assert '<li class="reason-critical">tank DEGRADED</li>' in dimmed
    assert "<dt>CPU</dt>" in dimmed and "<dt>RAM</dt>" in dimmed, "the numbers are old too"


def test_offline_host_keeps_its_last_known_problems_dimmed_on_its_page(user_client):
    make_host("pve-gone", degraded(), online=False)
    page = user_client.get("/hosts/pve-gone/").content.decode()
    head = re.search(r'<section class="host-head.*?</section>', page, re.S).group(0)
    assert "light-offline" in head and "offline for" in head
    last_known = re.search(r'<div class="last-known">.*?</div>', head, re.S)
    assert last_known and "as of" in last_known.group(0)
    assert "tank DEGRADED" in last_known.group(0)
    assert re.search(r'<dd class="stale"[^>]*>12\.5\xa0%', head), "CPU is marked as old"


def test_offline_host_filter_finds_its_last_known_problems(user_client):
    make_host("pve-gone", degraded(), online=False)
    make_host("pve-ok")
    page = user_client.get("/?q=degraded").content.decode()
    assert 'id="host-pve-gone"' in page and 'id="host-pve-ok"' not in page


def test_online_host_shows_no_last_known_block(user_client):
    make_host("pve1", degraded())
    assert "last-known" not in card(user_client.get("/").content.decode(), "pve1")
    assert "last-known" not in user_client.get("/hosts/pve1/").content.decode()


def test_last_known_reasons_are_judged_as_of_when_the_facts_arrived():
    data = copy.deepcopy(DATA["fast"])  # last scrub 2026-04-12, nine days before BASE_TIME
    data["zfs_pools"]["pools"][0]["capacity_pct"] = 85.0
    facts = {"fast": compact("fast", data, {}, BASE_TIME, BASE_TIME, None)}
    later = BASE_TIME + timedelta(days=60)
    verdict = evaluate("offline", BASE_TIME, None, facts, later, Thresholds())
    assert verdict.level == "offline"
    assert verdict.reasons == [Reason("offline", "offline for 60 days")]
    assert verdict.as_of == BASE_TIME
    # the scrub was 9 days old then, not 69: no "last scrubbed" reason
    assert verdict.last_known == [Reason("warning", "rpool 85 % full")]
    assert verdict.pool_levels == {"rpool": "warning"}
    never = evaluate("never_connected", None, None, {}, later, Thresholds())
    assert never.last_known == [] and never.as_of is None
