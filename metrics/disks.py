"""Disks: compact facts and rules (DESIGN.md "Data protection", docs/protocol.md slow `disks`).

Pure: no ORM, no clock. metrics.summary stores `compact_disks` in the slow tier's facts;
metrics.status turns `findings(slow)` into reasons.

Standby disks keep their last known values: an entry the agent reports `standby: true` (it did
not wake the disk, so every value is null) takes the values of the same disk in the previous
facts (matched by a shared /dev/disk/by-id name, else by device name when neither side knows
one), with `values_from` (when those values were read) and `asleep_since` (the first sample
that found it asleep). A disk never seen awake has no values; it gets no reason.

Rules, each keyed (rule, subject = device name) for alerts:

- `disk_failed` (critical): SMART overall health FAILED ("sdb: SMART health FAILED").
- `disk_sectors` (warning): reallocated, pending or uncorrectable sectors above 0
  ("sdb: 8 reallocated sectors", "sdb: 1975 reallocated, 8 pending sectors").
- `disk_wear` (warning): NVMe percentage used at or above 90 ("nvme0n1: 91 % used").
- `disk_warning` (warning): an NVMe critical warning other than 0
  ("nvme0n1: critical warning 0x10").
"""

from __future__ import annotations

from typing import Any

WEAR_PCT = 90
VALUE_KEYS = (
    "model",
    "serial",
    "protocol",
    "passed",
    "temperature_c",
    "power_on_hours",
    "reallocated_sectors",
    "pending_sectors",
    "uncorrectable_sectors",
    "percentage_used",
    "media_errors",
    "critical_warning",
)
SECTORS = (
    ("reallocated_sectors", "reallocated"),
    ("pending_sectors", "pending"),
    ("uncorrectable_sectors", "uncorrectable"),
)
ERROR_CHARS = 200

Finding = tuple[str, str, str, str]  # (level, rule, subject, text)


def compact_disks(entries: Any, previous: Any, collected_at: str) -> list[dict]:
    """The slow tier's `disks` facts from the sample's entries and the previous facts' list."""
    before = (
        [disk for disk in previous if isinstance(disk, dict)] if isinstance(previous, list) else []
    )
    disks = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("device"), str):
            continue
        by_id = [name for name in entry.get("by_id") or [] if isinstance(name, str)]
        disk: dict[str, Any] = {"device": entry["device"], "by_id": by_id}
        disk.update((key, entry.get(key)) for key in VALUE_KEYS)
        disk["standby"] = entry.get("standby") is True
        error = entry.get("error")
        disk["error"] = str(error)[:ERROR_CHARS] if error else None
        disk["values_from"] = None if disk["standby"] or disk["error"] else collected_at
        disk["asleep_since"] = None
        if disk["standby"]:
            old = _same_disk(disk, before)
            disk["asleep_since"] = (old or {}).get("asleep_since") or collected_at
            if old and old.get("values_from"):
                disk.update((key, old.get(key)) for key in VALUE_KEYS)
                disk["values_from"] = old["values_from"]
        disks.append(disk)
    return disks


def problems(disk: dict) -> list[tuple[str, str, str]]:
    """(level, rule, text) of one disk's facts, worst first."""
    name = disk.get("device") or "?"
    found = []
    if disk.get("passed") is False:
        found.append(("critical", "disk_failed", f"{name}: SMART health FAILED"))
    counts = [(word, disk.get(key)) for key, word in SECTORS]
    counts = [(word, n) for word, n in counts if isinstance(n, int) and n > 0]
    if counts:
        words = ", ".join(f"{n} {word}" for word, n in counts)
        plural = "sector" if len(counts) == 1 and counts[0][1] == 1 else "sectors"
        found.append(("warning", "disk_sectors", f"{name}: {words} {plural}"))
    used = disk.get("percentage_used")
    if isinstance(used, int | float) and used >= WEAR_PCT:
        found.append(("warning", "disk_wear", f"{name}: {int(used)} % used"))
    warning = disk.get("critical_warning")
    if isinstance(warning, int) and warning > 0:
        found.append(("warning", "disk_warning", f"{name}: critical warning 0x{warning:02x}"))
    return found


def findings(slow: dict) -> list[Finding]:
    """Every disk rule over the slow tier's facts (module docstring)."""
    found = []
    for disk in slow.get("disks") or []:
        for level, rule, text in problems(disk):
            found.append((level, rule, str(disk.get("device")), text))
    return found


def _same_disk(disk: dict, before: list[dict]) -> dict | None:
    names = set(disk["by_id"])
    for old in before:
        if names and names & set(old.get("by_id") or []):
            return old
    for old in before:
        if old.get("device") == disk["device"] and not (names and old.get("by_id")):
            return old
    return None
