"""SMART health of every whole disk, without waking a sleeping one.

For each whole disk in /sys/block (not loop, ram, zd, dm-, md, sr, nbd or rbd devices), the
agent runs

    smartctl --json=c -a -n standby /dev/<device>

`-n standby` makes smartctl ask the disk's power mode first (ATA CHECK POWER MODE, SCSI REQUEST
SENSE) and stop before any command that would spin it up when the disk is in standby or asleep:
it prints "Device is in STANDBY mode, exit(2)" as an information message and exits with 2. Such
a disk is reported with `standby: true` and every other value null; the server keeps its last
known values. `-a` only reads (identity, health, attributes, error and self-test logs); nothing
here enables SMART, starts a test or changes a setting.

smartctl's exit status is a bit mask (smartctl(8), EXIT STATUS): bit 0 = the command line did not
parse or smartctl failed internally, bit 1 = the device could not be opened or identified (or
was in a low-power mode under `-n`), bits 2-7 report what the disk says about itself (a SMART
command failed, "DISK FAILING", attributes at or below threshold now or in the past, errors in
the error or self-test log). Bits 2-7 are data, not a failed command: the JSON is read as usual.

`by_id` lists the names under /dev/disk/by-id whose symlink points at the disk (read with
readlink, no process), which is how ZFS usually names its vdevs.

A disk whose read fails keeps its entry, with the reason under the additive key `error` and its
values null; when every disk fails (smartctl broken, no permission) the source fails as a whole.
Without smartctl the source is not applicable.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from agent.machine import Machine, NotApplicable, SourceError

SOURCE = "disks"
TIER = "slow"

TIMEOUT_S = 30.0  # per disk: a disk behind a slow USB bridge can take several seconds
BY_ID = "/dev/disk/by-id"
# Block devices that are not physical disks: loop files, RAM disks, ZFS zvols, device-mapper
# (LVM), MD RAID, optical drives, network block devices and Ceph RBD.
NOT_DISKS = ("loop", "ram", "zd", "dm-", "md", "sr", "nbd", "rbd")

FAILED_COMMAND = 1 << 0
DEVICE_UNREADABLE = 1 << 1

MAX_TEXT = 255
MAX_ERROR = 300
MAX_COUNT = 2**63 - 1

# smartctl's message for a disk it did not wake: "Device is in STANDBY mode, exit(2)",
# "Device is in SLEEP mode, ...", "Device is in STANDBY BY COMMAND mode, ..." (SCSI),
# "Device is in STANDBY (OS) mode, ..." (ataprint.cpp, scsiprint.cpp, smartctl.cpp).
_LOW_POWER = re.compile(r"^Device is in .+ mode\b")
_LEADING_INT = re.compile(r"^\s*(\d+)")

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

# ATA attribute ids (the numbers every vendor uses for these three counters).
REALLOCATED_SECTOR_CT = 5
CURRENT_PENDING_SECTOR = 197
OFFLINE_UNCORRECTABLE = 198


def whole_disks(names: list[str]) -> list[str]:
    """The entries of /sys/block that are physical disks, sorted."""
    return sorted(name for name in names if not name.startswith(NOT_DISKS))


def smartctl_argv(device: str) -> list[str]:
    return ["smartctl", "--json=c", "-a", "-n", "standby", f"/dev/{device}"]


def parse(text: str, status: int) -> dict[str, Any]:
    """One disk's values from `smartctl --json=c -a -n standby` output and its exit status.

    Returns every key of VALUE_KEYS plus `standby`; raises SourceError when smartctl could not
    read the disk (bit 0 or bit 1 of the status without a low-power message, or no JSON).
    """
    try:
        data = json.loads(text)
    except ValueError:
        reason = f"exit status {status}" if status else "not JSON"
        raise SourceError(f"smartctl: unreadable output ({reason})") from None
    if not isinstance(data, dict):
        raise SourceError("smartctl: output is not a JSON object")
    messages = _messages(data)
    if any(_LOW_POWER.match(message) for message, _ in messages):
        return {"standby": True, **dict.fromkeys(VALUE_KEYS)}
    if status & (FAILED_COMMAND | DEVICE_UNREADABLE):
        errors = [message for message, severity in messages if severity == "error"]
        reason = errors[0] if errors else f"exit status {status}"
        raise SourceError(f"smartctl: {reason}"[:MAX_ERROR])
    entry: dict[str, Any] = {"standby": False}
    entry.update(_identity(data))
    health = data.get("smart_status")
    passed = health.get("passed") if isinstance(health, dict) else None
    entry["passed"] = passed if isinstance(passed, bool) else None
    entry["temperature_c"] = _number(_get(data, "temperature", "current"))
    entry["power_on_hours"] = _count(_get(data, "power_on_time", "hours"))
    attributes = _ata_attributes(data)
    entry["reallocated_sectors"] = attributes.get(REALLOCATED_SECTOR_CT)
    entry["pending_sectors"] = attributes.get(CURRENT_PENDING_SECTOR)
    entry["uncorrectable_sectors"] = attributes.get(OFFLINE_UNCORRECTABLE)
    if entry["reallocated_sectors"] is None:
        # SCSI/SAS: the grown defect list is the drive's list of reassigned blocks.
        entry["reallocated_sectors"] = _count(data.get("scsi_grown_defect_list"))
    nvme = data.get("nvme_smart_health_information_log")
    nvme = nvme if isinstance(nvme, dict) else {}
    entry["percentage_used"] = _number(nvme.get("percentage_used"))
    if entry["percentage_used"] is None:
        entry["percentage_used"] = _number(data.get("scsi_percentage_used_endurance_indicator"))
    entry["media_errors"] = _count(nvme.get("media_errors"))
    entry["critical_warning"] = _count(nvme.get("critical_warning"))
    return entry


def parse_by_id(links: dict[str, str]) -> dict[str, list[str]]:
    """{link name: symlink target} of /dev/disk/by-id to {device: [names]}; a target such as
    "../../sda" names device "sda" (partitions, "../../sda1", name other devices)."""
    devices: dict[str, list[str]] = {}
    for name, target in sorted(links.items()):
        device = os.path.basename(os.path.normpath(target))
        if device:
            devices.setdefault(device, []).append(name)
    return devices


def read_by_id(machine: Machine) -> dict[str, str]:
    links = {}
    for name in machine.listdir(BY_ID):
        try:
            links[name] = os.readlink(machine.file(f"{BY_ID}/{name}"))
        except OSError:
            continue  # not a symlink, or removed while listing
    return links


def collect(machine: Machine) -> list[dict[str, Any]]:
    if machine.which("smartctl") is None:
        raise NotApplicable("smartctl is not installed (package smartmontools)")
    by_id = parse_by_id(read_by_id(machine))
    disks = []
    failures = []
    for device in whole_disks(machine.listdir("/sys/block")):
        try:
            status, out = machine.run_status(smartctl_argv(device), timeout=TIMEOUT_S)
            entry = {"device": device, **parse(out, status)}
        except SourceError as exc:
            failures.append(f"{device}: {exc}")
            entry = {"device": device, "standby": False, **dict.fromkeys(VALUE_KEYS)}
            entry["error"] = str(exc)[:MAX_ERROR]
        entry["by_id"] = [name[:MAX_TEXT] for name in by_id.get(device, [])]
        disks.append(entry)
    if disks and len(failures) == len(disks):
        raise SourceError(f"smartctl failed for every disk; {failures[0]}")
    return disks


def _messages(data: dict[str, Any]) -> list[tuple[str, str]]:
    found = _get(data, "smartctl", "messages")
    if not isinstance(found, list):
        return []
    messages = []
    for message in found:
        if isinstance(message, dict) and isinstance(message.get("string"), str):
            messages.append((message["string"].strip(), str(message.get("severity", ""))))
    return messages


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    model = _first_text(data, "model_name", "scsi_model_name")
    if model is None:  # SCSI before smartctl 7.3 named it "vendor" + "product"
        parts = [_first_text(data, "vendor", "scsi_vendor"), _first_text(data, "product")]
        model = " ".join(part for part in parts if part) or None
    protocol = _get(data, "device", "protocol")
    return {
        "model": model,
        "serial": _first_text(data, "serial_number"),
        "protocol": protocol[:MAX_TEXT] if isinstance(protocol, str) and protocol else None,
    }


def _ata_attributes(data: dict[str, Any]) -> dict[int, int]:
    """Raw counts of the ATA attributes by id, as smartctl prints them (its `raw.string`
    applies the drive database's raw format; `raw.value` is the whole 48-bit field)."""
    table = _get(data, "ata_smart_attributes", "table")
    counts: dict[int, int] = {}
    for attribute in table if isinstance(table, list) else []:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("id"), int):
            continue
        raw = attribute.get("raw")
        raw = raw if isinstance(raw, dict) else {}
        match = _LEADING_INT.match(
            raw.get("string", "") if isinstance(raw.get("string"), str) else ""
        )
        value = _count(int(match.group(1))) if match else _count(raw.get("value"))
        if value is not None:
            counts[attribute["id"]] = value
    return counts


def _get(data: dict[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _first_text(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_TEXT]
    return None


def _count(value: Any) -> int | None:
    """A non-negative integer the protocol can carry, else None (never a bool or a float)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or abs(value) > MAX_COUNT:  # NaN or out of range
        return None
    return value
