"""Backups and replication in a real browser: the host page's sections, the fleet filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.sync.client import connect

from agent.collect import collect_tier
from agent.tests import fakehost
from dashboard.tests.browser import launch
from metrics.tests import frames

pytestmark = pytest.mark.e2e

PASSWORD = "protection-browser-password-1"
RED = "rgb(217, 45, 32)"  # --red of proxmon.css (light scheme)


@pytest.fixture
def server(live_server_factory, tmp_path):
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD)
    server.manage("ensure_admin")
    server.start()
    token = server.add_host("pve-fake")
    medium, errors = collect_tier(
        fakehost.build(tmp_path / "fake", "healthy", 3).machine(), "medium"
    )
    assert errors == {}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with connect(server.url) as ws:
        ws.send(json.dumps(frames.join("pve-fake", token)))
        assert json.loads(ws.recv())["type"] == "joined"
        for seq, (tier, data) in enumerate([("fast", None), ("medium", medium)], start=1):
            ws.send(json.dumps(frames.sample(tier, seq, stamp, data=data)))
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "seq": seq}
    return server


def login(page, server, path: str) -> None:
    page.set_default_timeout(15000)
    page.goto(server.http_url + path)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path.split("?")[0])


def test_host_page_shows_backups_and_replication_sections(server):
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        login(page, server, "/hosts/pve-fake/")
        backups = page.locator("section#backups")
        expect(backups.locator("h2")).to_have_text("Backups")
        expect(backups.locator("tbody tr")).to_have_count(5)
        failed = backups.locator("tr.backup-failed")
        expect(failed).to_have_count(1)
        expect(failed.locator("td[data-label=guest]")).to_have_text("ct 101 test-lxc-101")
        expect(failed.locator("td[data-label='last task'] .bad")).to_have_text("failed")
        colour = failed.locator("td[data-label='last task'] .bad").evaluate(
            "e => getComputedStyle(e).color"
        )
        assert colour == RED
        ok = backups.locator("tr.backup-ok")
        expect(ok.locator("td[data-label=verified]")).to_have_text("verified")
        expect(ok.locator("td[data-label='newest backup'] time")).to_have_text("6 h ago")
        expect(backups.locator("tr.backup-uncovered td[data-label=job]").first).to_have_text(
            "no job"
        )

        replication = page.locator("section#replication")
        expect(replication.locator("h2")).to_have_text("Replication")
        expect(replication.locator("tr.replication-failed td[data-label=job]")).to_have_text(
            "100-0"
        )
        expect(replication.locator("tr.replication-ok td[data-label=schedule]")).to_have_text(
            "mon..fri 22:00"
        )
        # the reasons at the top of the page name the guest and the job
        expect(page.locator(".host-head")).to_contain_text(
            "ct 101 test-lxc-101: last backup failed"
        )
        expect(page.locator(".host-head")).to_contain_text(
            "replication 100-0 to node2: failed once"
        )
        context.close()


def test_fleet_page_filter_swaps_the_table(server):
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        login(page, server, "/backups/")
        rows = page.locator("#backups tbody tr")
        expect(rows).to_have_count(5)
        page.select_option("select[name=show]", "uncovered")
        expect(rows).to_have_count(3)
        assert "show=uncovered" in page.url  # the filter is in the address, for a bookmark
        page.select_option("select[name=older]", "720")
        expect(rows).to_have_count(3)
        page.select_option("select[name=show]", "failed")
        expect(page.locator("#backups")).to_contain_text("No guest matches these filters.")
        page.select_option("select[name=older]", "")
        expect(rows).to_have_count(1)
        expect(page.locator("nav a[aria-current=page]")).to_have_text("Backups")
        context.close()
