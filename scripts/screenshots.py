"""Screenshots of the demo for the README: `scripts/demo` running for 3 minutes (its backlog
stored, its offline host gone), then
    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8000] [--out DIR]
writes docs/screenshots/*.png (desktop 1366 px and phone 390 px wide; --dark: *-dark.png in the
dark colour scheme, for looking, not for the README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.payloads import DEMO_FLEET  # noqa: E402
from dashboard.tests.browser import launch  # noqa: E402

HOST = {scenario: name for name, scenario, _ in reversed(DEMO_FLEET)}  # the first of each
PAGES = [
    ("overview", "/", None),
    ("host-degraded", f"/hosts/{HOST['degraded']}/", "#charts[data-drawn=yes]"),
    ("host-healthy", f"/hosts/{HOST['healthy']}/", "#charts[data-drawn=yes]"),
    ("search", "/vms/?q=nginx", None),
    ("backups", "/backups/", None),
    ("drift", "/drift/", None),
]


def main(url: str, password: str, out: Path, dark: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = launch(playwright)
        page = context.new_page()
        if dark:  # the pages follow the system's colour scheme
            page.emulate_media(color_scheme="dark")
        page.goto(url + "/login/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        for width, height, suffix in ((1366, 900, "desktop"), (390, 844, "phone")):
            page.set_viewport_size({"width": width, "height": height})
            for name, path, ready in PAGES:
                page.goto(url + path)
                if ready:
                    page.wait_for_selector(ready, timeout=15000)
                page.wait_for_timeout(300)
                shot = out / f"{name}-{suffix}{'-dark' if dark else ''}.png"
                page.screenshot(path=shot, full_page=suffix == "desktop")
        context.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--dark", action="store_true", help="dark colour scheme (*-dark.png)")
    args = parser.parse_args()
    main(args.url.rstrip("/"), args.password, args.out, args.dark)
