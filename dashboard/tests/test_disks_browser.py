"""The host page's Disks section in a real browser: the fake host's real fast and slow samples
sent over a real WebSocket to a real daphne, the page read by Chromium."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.sync.client import connect

from agent import collect
from agent.collect import collect_tier
from agent.tests import fakehost
from dashboard.tests.browser import launch
from metrics.tests import frames

pytestmark = pytest.mark.e2e

PASSWORD = "disks-browser-password-1"


@pytest.fixture
def server(live_server_factory, tmp_path, monkeypatch):
    monkeypatch.setattr(collect, "_not_applicable", set())
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD)
    server.manage("ensure_admin")
    server.start()
    token = server.add_host("pve-disks")
    machine = fakehost.build(tmp_path / "fake", "degraded", 0).machine()
    samples = [(tier, collect_tier(machine, tier)[0]) for tier in ("fast", "slow")]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with connect(server.url) as ws:
        ws.send(json.dumps(frames.join("pve-disks", token)))
        assert json.loads(ws.recv())["type"] == "joined"
        for seq, (tier, data) in enumerate(samples, start=1):
            ws.send(json.dumps(frames.sample(tier, seq, stamp, data=data)))
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "seq": seq}
    return server


def test_host_page_shows_the_disks_and_their_smart_state(server):
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(server.http_url + "/hosts/pve-disks/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/hosts/pve-disks/")
        disks = page.locator("section#disks")
        expect(disks.locator("h2")).to_have_text("Disks")
        expect(disks.locator("tbody tr")).to_have_count(6)
        # worst first: the failing disks lead, the sleeping and unreadable ones come last
        expect(disks.locator("tbody tr").first).to_have_attribute("data-disk", "nvme0n1")
        failing = disks.locator("tr[data-disk=sdb]")
        expect(failing).to_have_class("bad")
        expect(failing.locator("td.smart-critical")).to_have_text("SMART health FAILED")
        expect(failing).to_contain_text("Hitachi HDS721050DLE630")
        expect(failing).to_contain_text("1975 / 8 / 0")
        expect(failing).to_contain_text("tank")  # the degraded pool names its leaf sdb
        expect(disks.locator("tr[data-disk=sdc]")).to_contain_text("asleep since")
        expect(disks.locator("tr[data-disk=sdd]")).to_contain_text("not readable")
        expect(disks.locator("tr[data-disk=nvme1n1] td.smart-ok")).to_have_text("PASSED")
        # the vdev tree's SMART column and the host's reasons
        expect(page.locator("table.vdevs td.smart-critical").first).to_have_text(
            "SMART health FAILED"
        )
        # the agent has gone (offline): its last known problems name the disk
        expect(page.locator("section.host-head .last-known")).to_contain_text(
            "sdb: SMART health FAILED"
        )
        context.close()
