"""The overview in a real browser, against a real daphne fed by real agent sockets: one host
changing refreshes its card and the fleet line; the other cards stay the same DOM nodes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

# the browser tests' fixtures: a real server, a logged-in page, protocol-speaking agents
from dashboard.tests.test_browser import agent, degraded_fast, page, server  # noqa: F401

pytestmark = pytest.mark.e2e

MARK = "document.querySelectorAll('article.card').forEach(c => { c.__kept = true; })"


def kept(tab, name: str) -> bool:
    return tab.evaluate(f"!!document.getElementById('host-{name}').__kept")


def names_in_order(tab) -> list[str]:
    return tab.evaluate(
        "[...document.querySelectorAll('#fleet article.card')].map(c => c.dataset.host)"
    )


def test_one_host_changing_refreshes_its_card_and_the_fleet_line_only(server, page, agent):  # noqa: F811
    agents = {name: agent(server, name) for name in ("pve-a", "pve-b", "pve-c")}
    for one in agents.values():
        one.send("fast")
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#fleet-line")).to_have_text("3 hosts: all ok")
    assert names_in_order(page) == ["pve-a", "pve-b", "pve-c"]
    asked, whole = [], []
    page.on("request", lambda r: "hosts=" in r.url and asked.append(r.url))
    page.on("request", lambda r: r.headers.get("hx-target") == "fleet" and whole.append(r.url))
    page.evaluate(MARK)

    agents["pve-c"].send("fast", degraded_fast())
    expect(page.locator("#host-pve-c")).to_have_attribute("data-level", "critical")
    expect(page.locator("#fleet-line")).to_have_text("3 hosts: 1 critical")
    assert names_in_order(page) == ["pve-c", "pve-a", "pve-b"], "worst first"
    assert kept(page, "pve-a") and kept(page, "pve-b"), "an unchanged card was replaced"
    assert not kept(page, "pve-c")
    assert any("hosts=pve-c" in url for url in asked) and whole == []
    expect(page.locator("#host-pve-c .reasons")).to_contain_text("tank DEGRADED")

    # a filter (a whole refresh of #fleet), then live changes inside it
    page.select_option("select[name=status]", "ok")
    expect(page.locator("#fleet article.card")).to_have_count(2)
    page.wait_for_load_state("networkidle")
    page.evaluate(MARK)
    agents["pve-c"].send("fast")  # green again: it matches the filter now
    expect(page.locator("#host-pve-c")).to_have_attribute("data-level", "ok")
    assert names_in_order(page) == ["pve-a", "pve-b", "pve-c"]
    agents["pve-a"].send("fast", degraded_fast())  # red: no longer matches
    expect(page.locator("#host-pve-a")).to_have_count(0)
    expect(page.locator("#fleet-line")).to_have_text("3 hosts: 1 critical")
    assert kept(page, "pve-b")

    # a new host joins (the socket names it); a deleted one goes at the next refresh
    page.select_option("select[name=status]", "")
    expect(page.locator("#fleet article.card")).to_have_count(3)
    page.wait_for_load_state("networkidle")
    page.evaluate(MARK)
    agent(server, "pve-d").send("fast")
    expect(page.locator("#host-pve-d")).to_have_attribute("data-level", "ok")
    expect(page.locator("#fleet-line")).to_have_text("4 hosts: 1 critical")
    server.manage("delete_host", "pve-b")
    agents["pve-c"].send("fast")
    expect(page.locator("#host-pve-b")).to_have_count(0)
    expect(page.locator("#fleet-line")).to_have_text("3 hosts: 1 critical")
    assert names_in_order(page) == ["pve-a", "pve-c", "pve-d"]
    assert kept(page, "pve-a")
