"""What a person sees, in a real browser against a real server, fed by a real agent socket."""

from __future__ import annotations

import copy
import json
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect, sync_playwright
from websockets.sync.client import connect

from dashboard.tests.browser import launch
from metrics.tests import frames

pytestmark = pytest.mark.e2e

PASSWORD = "browser-test-password-1"


def now_sample(tier: str, seq: int, data: dict | None = None) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(frames.sample(tier, seq, when, data=data))


class Agent:
    """A protocol-speaking stand-in for one host's agent."""

    def __init__(self, server, name: str, stack: ExitStack) -> None:
        self.token = server.add_host(name)
        self.ws = stack.enter_context(connect(server.url))
        self.ws.send(json.dumps(frames.join(name, self.token)))
        assert json.loads(self.ws.recv())["type"] == "joined"
        self.seq = 0

    def send(self, tier: str, data: dict | None = None) -> None:
        if tier == "fast" and data is None:
            data = healthy_fast()
        self.seq += 1
        self.ws.send(now_sample(tier, self.seq, data))
        assert json.loads(self.ws.recv(timeout=10)) == {"type": "ack", "seq": self.seq}


def healthy_fast() -> dict:
    """The frames' host, scrubbed yesterday, so nothing but the test's change can warn."""
    data = copy.deepcopy(frames.DATA["fast"])
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pool = data["zfs_pools"]["pools"][0]
    pool["scan"].update(start_time=yesterday, end_time=yesterday)
    pool["last_scrub_end"] = yesterday
    return data


def degraded_fast() -> dict:
    data = healthy_fast()
    pool = data["zfs_pools"]["pools"][0]
    pool.update(name="tank", health="DEGRADED", degraded_vdevs=1)
    pool["scan"] = {
        "function": "resilver",
        "state": "scanning",
        "start_time": "2026-04-21T11:00:00Z",
        "end_time": None,
        "errors": 0,
        "progress_pct": 43.5,
    }
    return data


@pytest.fixture
def agent():
    with ExitStack() as stack:
        yield lambda server, name: Agent(server, name, stack)


@pytest.fixture
def server(live_server_factory):
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD)
    server.manage("ensure_admin")
    return server.start()


@pytest.fixture
def page(server):
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(server.http_url + "/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server.http_url + "/")
        yield page
        context.close()


def test_login_is_required_and_wrong_password_is_refused(server):
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        page.goto(server.http_url + "/vms/")
        assert "/login/" in page.url
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_contain_text("did not match")
        context.close()


def test_degraded_host_is_red_with_its_reason(server, page, agent):
    healthy, broken = agent(server, "pve1"), agent(server, "pve2")
    healthy.send("fast")
    broken.send("fast", degraded_fast())
    page.reload()
    card = page.locator("#host-pve2")
    expect(card).to_have_attribute("data-level", "critical")
    expect(card.locator(".reasons")).to_contain_text("tank DEGRADED")
    expect(page.locator("#host-pve1")).to_have_attribute("data-level", "ok")
    expect(page.locator("#fleet-line")).to_contain_text("2 hosts: 1 critical")
    # worst first
    assert page.locator(".card").first.get_attribute("id") == "host-pve2"


def test_card_changes_live_when_a_sample_arrives(server, page, agent):
    agent = agent(server, "pve3")
    agent.send("fast")
    page.reload()
    card = page.locator("#host-pve3")
    expect(card).to_have_attribute("data-level", "ok")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.evaluate("window.__marker = 'same page'")
    agent.send("fast", degraded_fast())
    expect(card).to_have_attribute("data-level", "critical", timeout=10000)
    assert page.evaluate("window.__marker") == "same page", "the page was reloaded"
    agent.ws.close()
    expect(card).to_have_attribute("data-level", "offline", timeout=10000)


def test_find_a_vm_by_ip_through_the_search_box(server, page, agent):
    agent = agent(server, "pve4")
    agent.send("fast")
    agent.send("medium")
    page.fill(".quick-search input[name=q]", "10.0.4.17")
    page.press(".quick-search input[name=q]", "Enter")
    page.wait_for_url("**/vms/?q=10.0.4.17")
    row = page.locator("table.results tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("nginx-proxy")
    expect(row).to_contain_text("pve4")
    # typing a prefix in the search page's own box updates the results in place
    page.fill("#search-box", "10.0.4.")
    expect(page.locator("#results")).to_contain_text("as ip")
    expect(row).to_contain_text("nginx-proxy")
    row.locator("a", has_text="pve4").click()
    page.wait_for_url("**/hosts/pve4/")


def test_host_detail_draws_charts_with_data(server, page, agent):
    agent = agent(server, "pve5")
    for _ in range(3):
        agent.send("fast")
    agent.send("medium")
    agent.send("slow")
    page.goto(server.http_url + "/hosts/pve5/")
    expect(page.locator("#charts")).to_have_attribute("data-drawn", "yes")
    assert int(page.locator("#charts").get_attribute("data-points")) == 3
    for chart in ("#chart-cpu", "#chart-mem", "#chart-load"):
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    expect(page.locator("#pool-rpool")).to_contain_text("ONLINE")
    expect(page.locator("section", has_text="Guests")).to_contain_text("nginx-proxy")
    expect(page.locator(".host-head")).to_contain_text("8.4.14")
