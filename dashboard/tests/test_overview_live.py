"""The overview's live refresh (?hosts=a,b): only the asked cards, the fleet line and the order
of every shown card with its stamp; filters, sort and escaping as on the full page."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from dashboard.tests.test_pages import degraded, healthy_fast, make_host
from hosts.models import Host
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


@pytest.fixture
def three(db):
    """pve1 and pve3 green, pve2 with a degraded pool."""
    return make_host("pve1"), make_host("pve2", degraded()), make_host("pve3")


def update(client, query: str) -> tuple[list, dict[str, str], str]:
    """The answer to /?<query>: the order [[name, stamp], ...], the cards by host and the page."""
    response = client.get("/?" + query)
    assert response.status_code == 200, response.content
    page = response.content.decode()
    found = re.search(r'<script id="fleet-order" type="application/json">(.*?)</script>', page)
    assert found, page
    cards = dict(
        re.findall(r'(<article class="card[^"]*" id="host-([^"]+)".*?</article>)', page, re.S)
    )
    return json.loads(found.group(1)), {name: html for html, name in cards.items()}, page


def stamp_of(card: str) -> str:
    return re.search(r'data-stamp="([^"]+)"', card).group(1)


def test_only_the_asked_cards_with_the_fleet_line_and_every_shown_card_in_order(user_client, three):
    order, cards, page = update(user_client, "hosts=pve2")
    assert list(cards) == ["pve2"]
    assert "tank DEGRADED" in cards["pve2"]
    assert [name for name, _ in order] == ["pve2", "pve1", "pve3"]  # worst first, then by name
    assert dict(order)["pve2"] == stamp_of(cards["pve2"])
    assert '<strong id="fleet-line">3 hosts: 1 critical</strong>' in page
    # the stamps are those of the full page's cards: a page holding them need not fetch them
    full = user_client.get("/").content.decode()
    for name, stamp in order:
        assert f'id="host-{name}" data-host="{name}"' in full
        assert re.search(rf'id="host-{name}"[^>]*data-stamp="{stamp}"', full), name


def test_several_hosts_names_are_trimmed_and_lowercased(user_client, three):
    _, cards, _ = update(user_client, "hosts=PVE1,%20pve3%20,,")
    assert sorted(cards) == ["pve1", "pve3"]


def test_filters_and_sort_apply_to_the_order_and_the_cards(user_client, three):
    order, cards, page = update(user_client, "status=critical&hosts=pve1,pve2")
    assert [name for name, _ in order] == ["pve2"]
    assert list(cards) == ["pve2"], "pve1 is filtered out: no card for it"
    assert "3 hosts: 1 critical" in page  # the fleet line counts the whole fleet
    order, cards, _ = update(user_client, "q=degraded&hosts=pve1")
    assert [name for name, _ in order] == ["pve2"] and cards == {}
    order, _, _ = update(user_client, "sort=name&hosts=pve1")
    assert [name for name, _ in order] == ["pve1", "pve2", "pve3"]


def test_unknown_deleted_and_invalid_names_are_no_card_and_no_error(user_client, three):
    Host.objects.filter(name="pve3").delete()
    order, cards, page = update(user_client, "hosts=pve3,nosuch,%3Cb%3E,pve1")
    assert list(cards) == ["pve1"]
    assert [name for name, _ in order] == ["pve2", "pve1"]
    assert "2 hosts: 1 critical" in page
    assert "<b>" not in page


def test_too_many_names_are_refused_with_a_reason(user_client, three):
    names = ",".join(f"h{i}" for i in range(201))
    response = user_client.get("/?hosts=" + names)
    assert response.status_code == 400
    assert b"at most 200" in response.content
    assert user_client.get("/?hosts=" + names.rsplit(",", 1)[0]).status_code == 200


def test_login_required(client, three):
    response = client.get("/?hosts=pve1")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_agent_text_is_escaped_in_the_fragment(user_client):
    host = Host.objects.create(name="evil", token_hash="hash")
    now = timezone.now()
    data = healthy_fast()
    data["zfs_pools"]["pools"][0]["name"] = "<img src=x onerror=alert(1)>"
    frame = frames.sample(
        "fast",
        1,
        now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        data=data,
        errors={"guests": "<script>alert('x')</script> failed"},
    )
    ingest(host.pk, "hash", frame, now, None)
    Host.objects.filter(pk=host.pk).update(status=Host.Status.ONLINE, last_seen_at=now)
    _, cards, page = update(user_client, "hosts=evil")
    card = cards["evil"]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; failed" in card
    assert "&lt;img src=x onerror=alert(1)&gt;" in card
    assert "<script>alert" not in page and "<img src" not in page


def test_a_stamp_changes_with_what_the_card_shows_and_only_then(user_client, three):
    before = dict(update(user_client, "hosts=pve1")[0])
    assert dict(update(user_client, "hosts=pve1")[0]) == before
    # pve2 sends a sample: only its stamp changes
    host = Host.objects.get(name="pve2")
    now = timezone.now()
    frame = frames.sample("fast", 9, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), data=healthy_fast())
    ingest(host.pk, "hash", frame, now, None)
    Host.objects.filter(pk=host.pk).update(last_seen_at=now)
    after = dict(update(user_client, "hosts=pve2")[0])
    assert after["pve2"] != before["pve2"]
    assert {k: v for k, v in after.items() if k != "pve2"} == {
        k: v for k, v in before.items() if k != "pve2"
    }
    # an alert fires for pve3: its bell, so its stamp
    Alert.objects.create(
        host=Host.objects.get(name="pve3"),
        rule="updates",
        state=Alert.State.FIRING,
        level="warning",
        text="12 updates pending",
        since=now,
        fired_at=now,
    )
    _, cards, _ = update(user_client, "hosts=pve3")
    again = dict(update(user_client, "hosts=pve3")[0])
    assert again["pve3"] != after["pve3"]
    assert 'class="bell" title="1 alert firing"' in cards["pve3"]


def queries_of(client, query: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        update(client, query)
    return [q["sql"] for q in captured.captured_queries]


def test_the_refresh_costs_the_same_queries_for_three_hosts_as_for_one(user_client):
    """Every host is read for the order and the fleet line: a column a card needs that
    fleet.CARD_FIELDS leaves out would cost a query per host, which this catches."""
    make_host("pve1")
    user_client.get("/?hosts=pve1")  # warm the per-process caches
    one = queries_of(user_client, "hosts=pve1")
    make_host("pve2", degraded())
    make_host("pve3")
    user_client.get("/?hosts=pve1,pve2,pve3")
    three = queries_of(user_client, "hosts=pve1,pve2,pve3")
    assert 0 < len(three) == len(one), "\n".join(three)
