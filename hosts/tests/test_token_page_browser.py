"""The onboarding page on a phone, in a real headless Chromium: the token and the install
steps wrap inside the screen instead of being clipped."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from dashboard.tests.browser import launch

pytestmark = pytest.mark.e2e

PASSWORD = "token-page-password-1"
PHONE = {"width": 390, "height": 844}


def test_token_and_install_steps_fit_a_phone_screen(live_server_factory):
    server = live_server_factory(PROXMON_ADMIN_PASSWORD=PASSWORD)
    server.manage("ensure_admin")
    server.start()
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        page.set_viewport_size(PHONE)
        page.set_default_timeout(15000)
        page.goto(server.http_url + "/admin/hosts/host/add/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")
        page.fill("input[name=name]", "pve-phone-01")
        page.click("input[name=_save]")
        page.wait_for_selector("#token")
        token = page.inner_text("#token").strip()
        assert len(token) == 43
        for box in ("#token", "#install-block"):
            size = page.eval_on_selector(
                box,
                "e => ({right: e.getBoundingClientRect().right,"
                " scroll: e.scrollWidth, client: e.clientWidth})",
            )
            assert size["right"] <= PHONE["width"], (box, size)
            assert size["scroll"] <= size["client"], (box, size)  # nothing cut off or hidden
        assert token in page.inner_text("#install-block").replace("\n", "")
        context.close()
