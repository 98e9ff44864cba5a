"""/alerts/ in a real Chromium against a real server fed by the agent socket."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from alerts.tests.receiver import Receiver
from alerts.tests.test_e2e import FAST
from dashboard.tests.test_browser import PASSWORD, agent, degraded_fast, page  # noqa: F401

pytestmark = pytest.mark.e2e

# Set to a folder to keep the pages' screenshots (docs/screenshots/alerts-*.png come from here).
SCREENSHOTS = os.environ.get("PROXMON_SCREENSHOTS", "")


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def server(live_server_factory, receiver):
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD, **FAST)
    server.manage("ensure_admin")
    server.manage("add_channel", "ops-webhook", receiver.url("proxmon/s3cret"))
    server.manage(
        "add_channel",
        "pager",
        "ntfys://ntfy.invalid/proxmon-topic-s3cret",
        "--min-level",
        "critical",
    )
    return server.start()


def shoot(tab, name: str) -> None:
    if SCREENSHOTS:
        tab.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def test_alerts_page_shows_firing_alert_and_acknowledges_it(server, page, agent, receiver):  # noqa: F811
    healthy, broken = agent(server, "pve1"), agent(server, "pve7")
    healthy.send("fast")
    broken.send("fast", degraded_fast())
    assert receiver.wait_for(1)
    page.goto(server.http_url + "/alerts/")
    row = page.locator('[data-alert="pve7/pool_health/tank"]')
    expect(row).to_contain_text("tank DEGRADED")
    expect(row).to_contain_text("critical")
    expect(page.locator('[data-channel="ops-webhook"]')).to_contain_text("ok, last delivery")
    expect(page.locator('[data-channel="pager"]')).to_contain_text("ntfys://")
    expect(page.locator("body")).not_to_contain_text("s3cret")
    shoot(page, "alerts-desktop")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator('[data-alert="pve7/pool_health/tank"]')).to_contain_text("acked by admin")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "alerts-phone")
    page.goto(server.http_url + "/")
    expect(page.locator("#host-pve7 .bell")).to_have_attribute("title", "1 alert firing")
    expect(page.locator("#host-pve1 .bell")).to_have_count(0)
