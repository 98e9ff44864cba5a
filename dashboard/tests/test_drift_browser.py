"""The fleet drift page in a real browser, against a real daphne fed by real agent sockets. The
slow samples are what the agent's own system collector reads from a fake host's files (the real
pveversion, apt and dpkg status captures of agent/tests/test_system.py), one host with a newer
kernel installed, one with its ZFS module behind its tools."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agent.collectors import system
from agent.tests.test_system import fake_host

# the browser tests' fixtures: a real server, a logged-in page, protocol-speaking agents
from dashboard.tests.test_browser import agent, page, server  # noqa: F401

pytestmark = pytest.mark.e2e


def collected(tmp_path, newer_kernel: str | None = None, zfs_userland: str | None = None) -> dict:
    """The `system` source of a fake host (running 6.8.12-15-pve, ZFS module 2.2.7-pve2)."""
    machine = fake_host(tmp_path)
    if newer_kernel:
        (tmp_path / "root/boot" / f"vmlinuz-{newer_kernel}").write_text("")
    if zfs_userland:
        status = tmp_path / "root/var/lib/dpkg/status"
        status.write_text(status.read_text().replace("2.2.7-pve2", zfs_userland))
    return system.collect(machine)


def test_sort_by_next_boot_brings_the_host_that_needs_a_reboot_first(
    server,  # noqa: F811
    page,  # noqa: F811
    agent,  # noqa: F811
    tmp_path,
):
    samples = {
        "pve-a": collected(tmp_path / "a"),
        "pve-b": collected(tmp_path / "b"),
        "pve-c": collected(tmp_path / "c", zfs_userland="2.2.8-pve1"),
        "pve-z": collected(tmp_path / "z", newer_kernel="6.17.2-1-pve"),
    }
    assert samples["pve-z"]["kernel_newest"] == "6.17.2-1-pve"
    for name, data in samples.items():
        agent(server, name).send("slow", {"system": data})
    agent(server, "pve-quiet")  # joined, no slow sample yet

    page.goto(server.http_url + "/drift/")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Drift")
    rows = page.locator("#drift tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_have_attribute("data-host", "pve-a")  # by name at first
    expect(page.locator("tr[data-host=pve-quiet]")).to_contain_text("not yet reported")

    page.click("#drift th a:text-is('next boot')")
    expect(page.locator("#drift th[aria-sort=ascending]")).to_contain_text("next boot")
    assert page.url.endswith("/drift/?sort=boot")  # in the address, for a bookmark
    first = rows.first
    expect(first).to_have_attribute("data-host", "pve-z")
    boot = first.locator("td[data-label=boot]")
    expect(boot).to_have_class("drift-boot flag flag-reboot")
    expect(boot).to_contain_text("6.17.2-1-pve")
    expect(boot.locator(".badge-warn")).to_have_text("reboot needed")
    expect(rows.last).to_have_attribute("data-host", "pve-quiet")  # unknown: last
    # the ZFS pair that is apart, on both its cells
    expect(page.locator("tr[data-host=pve-c] td[data-label=zfs_kmod] .badge-warn")).to_have_text(
        "≠ userland"
    )
    # the same header again: descending, the reboot last among the known
    page.click("#drift th a:text-is('next boot ↑')")
    expect(page.locator("#drift th[aria-sort=descending]")).to_contain_text("next boot")
    expect(rows.nth(3)).to_have_attribute("data-host", "pve-z")

    # highlighted in both schemes: the tinted cell is not the page's background
    tint = "e => getComputedStyle(e).backgroundColor"
    light = page.locator("tr[data-host=pve-z] td[data-label=boot]").evaluate(tint)
    page.emulate_media(color_scheme="dark")
    dark = page.locator("tr[data-host=pve-z] td[data-label=boot]").evaluate(tint)
    assert light == "rgb(253, 246, 220)" and dark == "rgb(58, 47, 18)"  # --yellow-bg

    # a phone: the table scrolls inside its box, the page itself does not (the marks' words
    # for screen readers once stuck out of it)
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#drift .scroll")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")
