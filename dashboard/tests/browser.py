"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests."""

from __future__ import annotations

import os
import shutil
import tempfile

CHROMIUM = os.environ.get("PROXMON_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium keeps trying to reach Google's services from a closed network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: scripts/test installs Debian's chromium package"
        )
    profile = tempfile.mkdtemp(prefix="proxmon-chromium-")
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=ARGS, headless=True
    )
