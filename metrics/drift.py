"""Versions that drift: which kernel a host boots next, and how versions compare.

Read from the slow tier's `system` facts (agent/collectors/system.py): `kernel` (running),
`kernel_newest` (newest installed), `kernel_pinned` (proxmox-boot-tool's pin, or null).
Pure: no ORM.
"""

from __future__ import annotations

import re


def version_key(version: str) -> tuple:
    """Order of version strings with numbers compared as numbers: "6.14.8-2-pve" after
    "6.8.12-15-pve", "8.4.14" after "8.4.9". Alternates text and number parts, so any two
    keys compare without a type error."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version))


def boot_kernel(system: dict) -> str | None:
    """The kernel the host boots next: the pinned one, else the newest installed."""
    return system.get("kernel_pinned") or system.get("kernel_newest") or None


def reboot_kernel(system: dict) -> str | None:
    """The kernel a reboot would bring, when it is not the running one, else None.

    A pin is the operator's choice: any pinned kernel that is not running counts. Without a
    pin, only a newest installed kernel newer than the running one counts (a running kernel
    whose package was removed is no reason to reboot into an older one). Unknown: None.
    """
    running = system.get("kernel")
    if not running:
        return None
    pinned = system.get("kernel_pinned")
    if pinned:
        return pinned if pinned != running else None
    newest = system.get("kernel_newest")
    if newest and version_key(newest) > version_key(running):
        return newest
    return None
