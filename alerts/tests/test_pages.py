"""/alerts/, a channel's delivery log, acks and silences from the pages, the host page's
section, the overview's bell and tag filter, and the channel admin: Django's test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from alerts import sender
from alerts.models import Alert, Channel, Delivery, Silence, Transition
from alerts.tests.conftest import evaluate

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(db):
    return User.objects.create_superuser("admin", "a@example.com", "pw")


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_pages_need_a_login(client):
    for url in ("/alerts/", "/alerts/channels/ops/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")
    assert client.post("/alerts/1/ack/").status_code == 302


def test_alerts_page_shows_firing_alerts_with_since_marks_and_channel_health(
    browser, host, channel, receivers
):
    pve7 = host("pve7", health="DEGRADED")
    pve8 = host("pve8", health="FAULTED")
    Silence.objects.create(host=pve8, until=timezone.now() + timedelta(hours=1), reason="reboot")
    broken = receivers([500])
    channel("pager", receiver=broken, url=broken.url("s3cret-hook-token"))
    evaluate(pve7)
    evaluate(pve8)
    sender.send_channel(Channel.objects.get(name="pager").pk)
    html = browser.get("/alerts/").content.decode()
    assert "Firing now (2)" in html
    assert "tank DEGRADED" in html and "tank FAULTED" in html
    assert "(1 device not online)" in html
    assert 'data-alert="pve8/pool_health/tank"' in html
    row = html.split('data-alert="pve8/pool_health/tank"')[1].split("</tr>")[0]
    assert ">silenced<" in row
    assert "reboot" in html  # the silence and its reason
    assert "channel-failing" in html and "failing" in html
    assert f"json://127.0.0.1:{broken.port}/…" in html
    assert "s3cret-hook-token" not in html
    assert "fired" in html  # recent transitions


def test_ack_from_the_page_marks_the_alert_and_needs_csrf(host, user):
    evaluate(host("pve7", health="DEGRADED"))
    alert = Alert.objects.get()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"/alerts/{alert.pk}/ack/").status_code == 403
    page = strict.get("/alerts/")
    token = page.cookies["csrftoken"].value
    response = strict.post(f"/alerts/{alert.pk}/ack/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acked_at is not None and alert.acked_by == "admin"
    assert Transition.objects.filter(kind="acked").count() == 1
    html = strict.get("/alerts/").content.decode()
    assert "acked by admin" in html


def test_acked_alert_stays_acked_on_the_next_evaluations(browser, host, channel):
    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    alert = Alert.objects.get()
    browser.post(f"/alerts/{alert.pk}/ack/")
    evaluate(pve7, timezone.now() + timedelta(days=2))  # a repeat would be due
    alert.refresh_from_db()
    assert alert.acked_at is not None
    assert not channel().deliveries.exists()


def test_silence_from_the_host_page_and_end_it(browser, host):
    pve7 = host("pve7")
    html = browser.get("/hosts/pve7/").content.decode()
    assert 'class="host-alerts"' in html and "No alert fires or waits." in html
    response = browser.post(
        "/alerts/silences/",
        {"host": "pve7", "minutes": "45", "reason": "kernel", "next": "/hosts/pve7/"},
    )
    assert response.status_code == 302 and response.url == "/hosts/pve7/"
    silence = Silence.objects.get(host=pve7)
    assert silence.created_by == "admin" and silence.reason == "kernel"
    assert "silenced</span> until" in browser.get("/hosts/pve7/").content.decode()
    browser.post(f"/alerts/silences/{silence.pk}/end/")
    assert not Silence.objects.active().exists()
    assert browser.post("/alerts/silences/", {"host": "pve7", "minutes": "0"}).status_code == 400
    assert browser.post("/alerts/silences/", {"host": "nope", "minutes": "5"}).status_code == 404


def test_host_page_lists_its_alerts(browser, host):
    evaluate(host("pve7", health="DEGRADED"))
    html = browser.get("/hosts/pve7/").content.decode()
    section = html.split('class="host-alerts"')[1]
    assert "firing</span> tank DEGRADED" in section and "Acknowledge" in section
    assert "silenced</span> (no messages)" not in section


def test_host_page_marks_its_alerts_silenced_while_the_host_is(browser, host):
    pve7 = host("pve7", health="DEGRADED")
    Silence.objects.create(host=pve7, until=timezone.now() + timedelta(hours=1), reason="reboot")
    evaluate(pve7)
    section = browser.get("/hosts/pve7/").content.decode().split('class="host-alerts"')[1]
    alert = section.split('<ul class="host-alert-list">')[1]
    assert "tank DEGRADED" in alert and "silenced</span> (no messages)" in alert


def test_overview_marks_hosts_with_firing_alerts_and_filters_by_tag(browser, host):
    evaluate(host("pve7", health="DEGRADED", tags="prod"))
    host("pve8", tags="lab")
    html = browser.get("/").content.decode()
    card7 = html.split('id="host-pve7"')[1].split("</article>")[0]
    card8 = html.split('id="host-pve8"')[1].split("</article>")[0]
    assert 'class="bell"' in card7 and "1 alert firing" in card7
    assert 'class="bell"' not in card8
    assert '<option value="lab"' in html
    only_lab = browser.get("/?tag=lab").content.decode()
    assert 'id="host-pve8"' in only_lab and 'id="host-pve7"' not in only_lab
    assert 'id="host-pve7"' in browser.get("/?tag=nonsense").content.decode()


def test_channel_delivery_log(browser, host, channel):
    ops = channel()
    evaluate(host("pve7", health="DEGRADED"))
    sender.send_channel(ops.pk)
    html = browser.get("/alerts/channels/ops/").content.decode()
    assert "pve7: tank DEGRADED" in html and "delivered" in html and "HTTP 200" in html
    assert browser.get("/alerts/channels/nope/").status_code == 404


def test_channel_admin_never_shows_the_url_and_keeps_it_when_left_empty(browser, receivers):
    receiver = receivers()
    url = receiver.url("t0ken-in-path")
    response = browser.post(
        "/admin/alerts/channel/add/",
        {"name": "ops", "url": url, "min_level": "warning", "tags": "", "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get()
    assert channel.url == url
    for page in ("/admin/alerts/channel/", f"/admin/alerts/channel/{channel.pk}/change/"):
        html = browser.get(page).content.decode()
        assert "t0ken-in-path" not in html
        assert f"json://127.0.0.1:{receiver.port}/…" in html
    Channel.objects.update(signing_secret="hmac-k3y")
    browser.post(
        f"/admin/alerts/channel/{channel.pk}/change/",
        {"name": "ops", "url": "", "min_level": "critical", "tags": "prod", "enabled": "on"},
    )
    channel.refresh_from_db()
    assert (channel.url, channel.min_level, channel.tags) == (url, "critical", "prod")
    assert channel.signing_secret == "hmac-k3y"
    assert (
        "hmac-k3y"
        not in browser.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    )
    bad = browser.post(
        "/admin/alerts/channel/add/",
        {"name": "x", "url": "nonsense://", "min_level": "warning", "enabled": "on"},
    )
    assert "Apprise does not understand this URL" in bad.content.decode()


def test_silence_from_the_admin_records_who(browser, host):
    pve7 = host("pve7")
    until = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    day, time_ = until.split()
    response = browser.post(
        "/admin/alerts/silence/add/",
        {"host": pve7.pk, "until_0": day, "until_1": time_, "reason": "disk swap"},
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    silence = Silence.objects.get()
    assert (silence.created_by, silence.reason) == ("admin", "disk swap")


def test_host_tags_from_the_admin(browser, host):
    pve7 = host("pve7")
    page = browser.get(f"/admin/hosts/host/{pve7.pk}/change/").content.decode()
    assert 'name="tags"' in page


def test_alert_text_drops_control_and_bidi_characters_of_agent_names(host, channel):
    channel()
    pve7 = host("pve7", health="DEGRADED", pool="ta\u202enk\u0007")
    evaluate(pve7)
    alert = Alert.objects.get(host=pve7, rule="pool_health")
    assert alert.text == "tank DEGRADED"
    assert Delivery.objects.get().title == "pve7: tank DEGRADED"
