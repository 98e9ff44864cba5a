"""History in a real browser: an agent's backlog rolled up by the real server, charted."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.sync.client import connect

from dashboard.tests.browser import launch
from metrics.tests import frames

pytestmark = pytest.mark.e2e

PASSWORD = "history-test-password-1"


def fast(cpu: float, allocated: int) -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    data["host"]["cpu_percent"] = cpu
    data["zfs_pools"]["pools"][0]["allocated"] = allocated
    return data


@pytest.fixture
def server(live_server_factory):
    server = live_server_factory(
        PROXMON_ADMIN_PASSWORD=PASSWORD,
        # roll up at once (the background thread wakes with the heartbeat)
        PROXMON_HEARTBEAT_S="0.3",
        PROXMON_HISTORY_INTERVAL_S="1",
        PROXMON_HISTORY_SETTLE_S="0",
    )
    server.manage("ensure_admin")
    return server.start()


def test_the_seven_day_chart_draws_from_the_five_minute_rollups(server):
    token = server.add_host("pve1")
    now = datetime.now(UTC)
    # an agent back after an outage sends its backlog: a sample every 30 min for 4 days,
    # 1 GB more in its pool each time, then one of now
    times = [now - timedelta(days=4) + timedelta(minutes=30 * i) for i in range(4 * 48)]
    with connect(server.url) as ws:
        ws.send(json.dumps(frames.join("pve1", token)))
        assert json.loads(ws.recv())["type"] == "joined"
        for seq, when in enumerate([*times, now], start=1):
            frame = frames.sample("fast", seq, when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            frame["data"] = fast(20.0 + seq % 7, 400_000_000_000 + seq * 1_000_000_000)
            ws.send(json.dumps(frame))
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "seq": seq}

    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(server.http_url + "/hosts/pve1/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/hosts/pve1/")
        charts = page.locator("#charts")
        expect(charts).to_have_attribute("data-drawn", "yes")
        assert charts.get_attribute("data-source") == "raw"
        assert int(charts.get_attribute("data-points")) < 100  # 24 h of raw points

        page.click("button.range[data-range='7d']")
        expect(charts).to_have_attribute("data-source", "5m")
        expect(charts).to_have_attribute("data-drawn", "yes")
        expect(page.locator("#chart-range")).to_have_text("7 days")
        # every backlog sample is its own 5-minute point, and the one of now
        expect(charts).to_have_attribute("data-points", str(len(times) + 1), timeout=20000)
        first, last, maxima, pools = page.evaluate(
            """() => { const cpu = document.getElementById("chart-cpu").uplot;
            const pools = document.getElementById("chart-pools").uplot;
            return [cpu.data[0][0], cpu.data[0][cpu.data[0].length - 1],
                    cpu.series.map(s => s.label), pools.data[1].filter(v => v !== null)]; }"""
        )
        assert abs(first - (times[0].timestamp() - times[0].timestamp() % 300)) < 1
        assert abs(last - now.timestamp()) < 300
        assert "max" in maxima  # a rollup's maximum beside its average
        # pool capacity in percent of its 1 TB, growing by 0.1 point a sample
        assert pools[0] == pytest.approx(40.1, abs=0.05) and pools[-1] > pools[0]
        expect(page.locator("#chart-pools canvas")).to_have_count(1)
        expect(page.locator("#chart-storage canvas")).to_have_count(1)

        # a guest's chart on demand, from the hourly points
        page.click("button.guest-chart[data-vmid='100']")
        expect(page.locator("#guest-chart")).to_be_visible()
        expect(page.locator("#guest-chart-name")).to_contain_text("nginx-proxy")
        expect(page.locator("#chart-guest-cpu canvas")).to_have_count(1)
        assert int(page.locator("#guest-chart").get_attribute("data-points")) >= 4 * 24
        context.close()
