"""What a person sees, in a real browser against a real server, fed by a real agent socket."""

from __future__ import annotations

import copy
import json
import re
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


def color_of(page, css_var: str) -> str:
    """The computed colour of a CSS variable, as the browser writes it ("rgb(217, 45, 32)")."""
    return page.evaluate(
        """(name) => { const el = document.createElement("span");
        el.style.color = `var(${name})`; document.body.append(el);
        const color = getComputedStyle(el).color; el.remove(); return color; }""",
        css_var,
    )


def test_chart_of_a_host_with_one_sample_spans_minutes_around_it(server, page, agent):
    agent = agent(server, "pve6")
    agent.send("fast")
    page.goto(server.http_url + "/hosts/pve6/")
    expect(page.locator("#charts")).to_have_attribute("data-drawn", "yes")
    assert page.locator("#charts").get_attribute("data-points") == "1"
    x_min, x_max, labels, now = page.evaluate(
        """() => { const u = document.getElementById("chart-cpu").uplot;
        return [u.scales.x.min, u.scales.x.max, u.axes[0]._values, Date.now() / 1000]; }"""
    )
    # uPlot alone spread one point over 1,000 days, labelled with months and years
    assert abs(x_min - now) < 3600 and abs(x_max - now) < 3600, (x_min, x_max, now)
    assert labels and all(re.match(r"\d{1,2}:\d{2}(am|pm)", label) for label in labels), labels


def test_full_pool_is_red_on_its_card_and_its_page(server, page, agent):
    agent = agent(server, "pve7")
    data = healthy_fast()
    data["zfs_pools"]["pools"][0]["capacity_pct"] = 92.0
    agent.send("fast", data)
    page.reload()
    red = color_of(page, "--red")
    chip = page.locator("#host-pve7 .pool", has_text="rpool")
    expect(chip).to_have_css("color", red)
    expect(chip).to_have_css("border-top-color", red)
    page.goto(server.http_url + "/hosts/pve7/")
    box = page.locator("#pool-rpool")
    expect(box.locator(".bar > span")).to_have_css("background-color", red)
    expect(box).to_have_css("border-top-color", red)
    badge = box.locator(".badge")
    expect(badge).to_have_text("ONLINE")
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") != color_of(page, "--green")


def test_offline_card_keeps_its_last_known_problems_dimmed(server, page, agent):
    agent = agent(server, "pve8")
    agent.send("fast", degraded_fast())
    page.reload()
    card = page.locator("#host-pve8")
    expect(card).to_have_attribute("data-level", "critical")
    agent.ws.close()
    expect(card).to_have_attribute("data-level", "offline", timeout=10000)
    expect(card.locator(".light")).to_have_css("background-color", color_of(page, "--grey"))
    last_known = card.locator(".last-known")
    expect(last_known).to_be_visible()
    expect(last_known).to_contain_text("tank DEGRADED")
    expect(last_known).to_contain_text("as of")
    expect(last_known.locator("dt", has_text="CPU")).to_be_visible()
    assert float(last_known.evaluate("el => getComputedStyle(el).opacity")) < 1
    page.goto(server.http_url + "/hosts/pve8/")
    head = page.locator(".host-head")
    expect(head.locator(".light")).to_have_attribute("aria-label", "offline")
    expect(head.locator(".last-known")).to_contain_text("tank DEGRADED")
    expect(head.locator("dd.stale").first).to_be_visible()


def test_page_polls_only_while_its_live_socket_is_down(server, page, agent):
    agent(server, "pve9").send("fast")
    sockets, state = [], {"down": False}

    def route(ws):
        if state["down"]:
            ws.close()
        else:
            ws.connect_to_server()
            sockets.append(ws)

    page.route_web_socket("**/ws/dashboard", route)
    page.clock.install()
    polls = []
    page.on("request", lambda r: r.headers.get("hx-request") and polls.append(r.url))
    page.goto(server.http_url + "/")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-state", "live")
    expect(live).to_contain_text("live")
    page.clock.run_for("05:00")
    assert polls == [], "polled although the socket is up"

    state["down"] = True
    sockets[-1].close()
    expect(live).to_have_attribute("data-state", "polling")
    with page.expect_request(lambda r: bool(r.headers.get("hx-request"))):
        page.clock.run_for("01:05")

    state["down"] = False
    page.clock.run_for("00:35")  # the next reconnect, at most 30 s away
    expect(live).to_have_attribute("data-state", "live")
    page.wait_for_load_state("networkidle")
    polls.clear()
    page.clock.run_for("05:00")
    assert polls == [], "still polling after the socket came back"


def test_pages_load_without_errors_or_missing_files(server, page, agent):
    agent(server, "pve10").send("fast")
    failures, errors = [], []
    page.on("response", lambda r: r.status >= 400 and failures.append((r.status, r.url)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    for url in ("/", "/hosts/pve10/", "/vms/?q=nginx"):
        page.goto(server.http_url + url)
        page.wait_for_load_state("networkidle")
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert page.request.get(server.http_url + icon).status == 200
    assert failures == [] and errors == []


def test_search_on_a_phone_keeps_names_whole_and_shows_macs(server, page, agent):
    agent = agent(server, "pve-fra-01")
    agent.send("fast")
    agent.send("medium")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.http_url + "/vms/?q=nginx")
    row = page.locator("table.results tbody tr")
    expect(row).to_have_count(1)
    host = row.locator("a", has_text="pve-fra-01")
    assert host.evaluate("el => el.getClientRects().length") == 1, "the name broke in two"
    mac = row.locator("td.mono")
    expect(mac).to_contain_text("bc:24:11:aa:bb:cc")
    expect(mac).to_be_in_viewport(ratio=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
