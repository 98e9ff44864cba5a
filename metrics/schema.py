"""Validation of agent frames against protocol v1 (docs/protocol.md, "Data by tier").

`validate_sample(frame)` returns None or the first problem as "path: what was expected", the
text of the nack. Keys the protocol does not know are ignored (the protocol grows additively);
keys it knows must have the documented type. Values an agent may not know are nullable.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

INT64_MAX = 2**63 - 1
# Raw command output may hold unsigned 64-bit ZFS GUIDs; nothing may nest deeper than this.
MAX_DEPTH = 64
# Outside `raw`, names and other text (ZFS names stop at 255 characters too); error reasons.
MAX_TEXT = 255
MAX_REASON = 1000
# Entries of a guest's own lists (tags, IPs, MACs, disks) and of a storage's content types:
# each list goes into one row of the guest index. The frame size bounds the other lists.
MAX_ITEMS = 1000
# The guest index keeps vmid and cores in 32-bit columns; Proxmox's own vmid range ends here.
MAX_VMID = 999_999_999
MAX_CORES = 2**31 - 1

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


class Invalid(Exception):
    def __init__(self, path: str, expected: str) -> None:
        super().__init__(f"{path}: {expected}")


def parse_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str) or not RFC3339_UTC.match(value):
        raise Invalid(path, "expected an RFC 3339 UTC time like 2026-04-21T12:34:56Z")
    text = value[:-1]
    if "." in text:  # Python parses at most microseconds
        whole, fraction = text.split(".")
        text = f"{whole}.{fraction[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise Invalid(path, "expected an RFC 3339 UTC time like 2026-04-21T12:34:56Z") from None


# --- value checkers: each takes (value, path) and raises Invalid -------------------------------


def integer(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(path, "expected an integer")
    if not 0 <= value <= INT64_MAX:
        raise Invalid(path, "expected an integer from 0 to 2^63-1")


def integer_upto(limit: int):
    def checker(value: Any, path: str) -> None:
        integer(value, path)
        if value > limit:
            raise Invalid(path, f"expected an integer from 0 to {limit:,}")

    return checker


def number(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(path, "expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(path, "expected a finite number")
    if abs(value) > INT64_MAX:
        raise Invalid(path, "number out of range")


def percent(value: Any, path: str) -> None:
    number(value, path)
    # a guest may use several cores: its percent of one core can exceed 100
    if value < 0:
        raise Invalid(path, "expected a percentage of 0 or more")


def string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise Invalid(path, "expected a string")
    if len(value) > MAX_TEXT:
        raise Invalid(path, f"expected at most {MAX_TEXT} characters")


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise Invalid(path, "expected true or false")


def time(value: Any, path: str) -> None:
    parse_time(value, path)


def nullable(check):
    def checker(value: Any, path: str) -> None:
        if value is not None:
            check(value, path)

    return checker


def one_of(*choices: str | None):
    def checker(value: Any, path: str) -> None:
        if value not in choices:
            names = ", ".join("null" if c is None else repr(c) for c in choices)
            raise Invalid(path, f"expected one of {names}")

    return checker


def listof(check, length: int | None = None, most: int | None = None):
    def checker(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise Invalid(path, "expected a list")
        if length is not None and len(value) != length:
            raise Invalid(path, f"expected a list of {length}")
        if most is not None and len(value) > most:
            raise Invalid(path, f"expected at most {most:,} entries")
        for index, item in enumerate(value):
            check(item, f"{path}[{index}]")

    return checker


class OptionalKey:
    """A key of an object that may be absent (checked by `check` when present)."""

    def __init__(self, check) -> None:
        self.check = check


def obj(fields: dict[str, Any]):
    """An object whose listed keys must all be present, unless Optional; others are allowed."""

    def checker(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(path, "expected an object")
        for key, check in fields.items():
            if isinstance(check, OptionalKey):
                if key not in value:
                    continue
                check = check.check
            elif key not in value:
                raise Invalid(f"{path}.{key}", "missing")
            check(value[key], f"{path}.{key}")

    return checker


def raw_output(value: Any, path: str) -> None:
    """A command's own JSON output: any object, absent or null when the agent left it out."""
    if value is not None and not isinstance(value, dict):
        raise Invalid(path, "expected an object or null")


# --- the sources of each tier ------------------------------------------------------------------

n_int = nullable(integer)
n_num = nullable(number)
n_pct = nullable(percent)
n_time = nullable(time)
n_str = nullable(string)

HOST = obj(
    {
        "hostname": string,
        "kernel": string,
        "cpu_percent": n_pct,
        "load": listof(number, length=3),
        "mem": obj({"total": integer, "used": integer, "available": integer}),
        "uptime_s": number,
        "rootfs": obj({"total": integer, "used": integer}),
    }
)

STORAGE = listof(
    obj(
        {
            "storage": string,
            "type": string,
            "enabled": boolean,
            "active": boolean,
            "shared": boolean,
            "content": listof(string, most=MAX_ITEMS),
            "used": n_int,
            "total": n_int,
        }
    )
)

POOL = obj(
    {
        "name": string,
        "health": string,
        "size": n_int,
        "allocated": n_int,
        "free": n_int,
        "fragmentation_pct": n_pct,
        "capacity_pct": n_pct,
        "errors": obj({"read": integer, "write": integer, "checksum": integer}),
        "data_errors": n_int,  # null: zpool did not say (text output without "errors:")
        "vdevs": integer,
        "degraded_vdevs": integer,
        "scan": obj(
            {
                "function": one_of("scrub", "resilver", None),
                "state": one_of("scanning", "finished", "canceled", None),
                "start_time": n_time,
                "end_time": n_time,
                "errors": n_int,
                "progress_pct": n_pct,
            }
        ),
        "last_scrub_end": n_time,
    }
)

ZFS_POOLS = obj({"pools": listof(POOL), "raw": OptionalKey(raw_output)})

GUESTS = listof(
    obj(
        {
            "vmid": integer_upto(MAX_VMID),
            "type": one_of("qemu", "lxc"),
            "name": string,
            "status": string,
            "uptime_s": n_num,
            "cpu_percent": n_pct,
            "cpus": n_num,
            "mem": n_int,
            "maxmem": n_int,
            "disk_read": n_int,
            "disk_write": n_int,
            "net_in": n_int,
            "net_out": n_int,
        }
    )
)

DATASETS = obj(
    {
        "datasets": listof(
            obj(
                {
                    "name": string,
                    "type": one_of("filesystem", "volume"),
                    "used": n_int,
                    "available": n_int,
                    "referenced": n_int,
                    "usedbysnapshots": n_int,
                    "snapshot_count": integer,
                    "oldest_snapshot": n_time,
                    "newest_snapshot": n_time,
                }
            )
        ),
        "raw": OptionalKey(raw_output),
    }
)

GUEST_CONFIGS = listof(
    obj(
        {
            "vmid": integer_upto(MAX_VMID),
            "type": one_of("qemu", "lxc"),
            "name": string,
            "cores": nullable(integer_upto(MAX_CORES)),
            "memory": n_int,
            "disks": listof(obj({"key": string, "storage": n_str, "size": n_int}), most=MAX_ITEMS),
            "tags": listof(string, most=MAX_ITEMS),
            "onboot": boolean,
            "agent": boolean,
            "ips": listof(string, most=MAX_ITEMS),
            "macs": listof(string, most=MAX_ITEMS),
            "os": n_str,
        }
    )
)

SYSTEM = obj(
    {
        "pve_version": n_str,
        "kernel": n_str,
        "zfs_version": n_str,
        "pending_updates": n_int,
        "agent_version": n_str,
        # additive (the drift page, the reboot rule): absent from older agents. Checked like
        # the others, or a number here would stop version_key and every page of that host.
        "kernel_newest": OptionalKey(n_str),
        "kernel_pinned": OptionalKey(n_str),
        "zfs_kmod": OptionalKey(n_str),
        "zfs_userland": OptionalKey(n_str),
    }
)


def reason_text(value: Any, path: str) -> None:
    """An error message from the host (a failed task, a replication error)."""
    if not isinstance(value, str):
        raise Invalid(path, "expected a string")
    if len(value) > MAX_REASON:
        raise Invalid(path, f"expected at most {MAX_REASON:,} characters")


VMID = integer_upto(MAX_VMID)
# medium, second release (docs/protocol.md "backups", "replication"); optional in a sample
BACKUPS = obj(
    {
        "jobs": listof(
            obj(
                {
                    "id": string,
                    "enabled": boolean,
                    "schedule": n_str,
                    "storage": n_str,
                    "all": boolean,
                    "vmids": listof(VMID, most=MAX_ITEMS),
                    "exclude": listof(VMID, most=MAX_ITEMS),
                    "pool": n_str,
                }
            )
        ),
        "guests": listof(
            obj(
                {
                    "vmid": VMID,
                    "covered": boolean,
                    "newest": n_time,
                    "newest_storage": n_str,
                    "newest_size": n_int,
                    "count": integer,
                    "verified": one_of("ok", "failed", None),
                    "last_task": nullable(
                        obj({"end_time": time, "ok": boolean, "error": nullable(reason_text)})
                    ),
                }
            )
        ),
    }
)
REPLICATION = listof(
    obj(
        {
            "id": string,
            "vmid": VMID,
            "target": string,
            "schedule": string,
            "last_sync": n_time,
            "last_try": n_time,
            "fail_count": integer,
            "error": nullable(reason_text),
            "duration_s": n_num,
        }
    )
)

# slow, second release (docs/protocol.md "disks"); optional in a sample. `error` is this
# implementation's additive key: why smartctl could not read that disk.
DISKS = listof(
    obj(
        {
            "device": string,
            "model": n_str,
            "serial": n_str,
            "protocol": n_str,
            "standby": boolean,
            "passed": nullable(boolean),
            "temperature_c": n_num,
            "power_on_hours": n_int,
            "reallocated_sectors": n_int,
            "pending_sectors": n_int,
            "uncorrectable_sectors": n_int,
            "percentage_used": n_num,
            "media_errors": n_int,
            "critical_warning": n_int,
            "by_id": listof(string, most=MAX_ITEMS),
            "error": OptionalKey(nullable(reason_text)),
        }
    )
)

SOURCES: dict[str, dict[str, Any]] = {
    "fast": {"host": HOST, "storage": STORAGE, "zfs_pools": ZFS_POOLS, "guests": GUESTS},
    "medium": {
        "datasets": DATASETS,
        "guest_configs": GUEST_CONFIGS,
        "backups": BACKUPS,
        "replication": REPLICATION,
    },
    "slow": {"system": SYSTEM, "disks": DISKS},
}


class Inexact(Exception):
    """A number this big may be an integer that a fast JSON parser turned into a float.

    orjson parses integers up to 64 bits exactly and bigger ones as floats; the standard
    library keeps them exact. Raised (only when `exact=False`) so that the caller parses the
    frame again with the standard library: stored samples are what the agent sent.
    """


# Floats at or beyond this magnitude are checked: every integer orjson rounds is among them.
BIG = 2.0**63


def validate_sample(frame: dict[str, Any], exact: bool = True) -> str | None:
    """None if the sample frame is valid, else the nack's error text.

    `exact=False`: the frame came from orjson; raises Inexact if it holds a float of 2**63 or
    more (which the standard library might have parsed as an integer).
    """
    try:
        _validate(frame, exact)
    except Invalid as exc:
        return str(exc)
    return None


def _validate(frame: dict[str, Any], exact: bool = True) -> None:
    tier = frame.get("tier")
    if not isinstance(tier, str) or tier not in SOURCES:
        raise Invalid("tier", "expected one of 'fast', 'medium', 'slow'")
    parse_time(frame.get("collected_at"), "collected_at")
    data = frame.get("data")
    if not isinstance(data, dict):
        raise Invalid("data", "expected an object")
    errors = frame.get("errors", {})
    if not isinstance(errors, dict):
        raise Invalid("errors", "expected an object")
    for source, reason in errors.items():
        if len(source) > MAX_TEXT:
            raise Invalid("errors", f"a source name longer than {MAX_TEXT} characters")
        if not isinstance(reason, str):
            raise Invalid(f"errors.{source}", "expected a string")
        if len(reason) > MAX_REASON:
            raise Invalid(f"errors.{source}", f"expected at most {MAX_REASON:,} characters")
    _check_depth_and_numbers(data, "data", exact)
    for source, check in SOURCES[tier].items():
        if source in data:
            check(data[source], f"data.{source}")


def _check_depth_and_numbers(value: Any, path: str, exact: bool = True) -> None:
    """Walk everything, raw command output included: no NaN/infinity, no absurd nesting.

    The walk runs on every sample (thousands of values in raw `zpool` output), so it first
    only answers "is anything unusual"; the path of a problem is searched only when it is.
    Unusual but fine: a float of 2**63 or more (Inexact, unless the parse was exact).
    """
    if not _fine(value, 1):
        _locate(value, path)
        if not exact:
            raise Inexact


def _fine(value: Any, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return False
    items = value.values() if type(value) is dict else value if type(value) is list else ()
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if not _fine(item, depth + 1):
                return False
        elif kind is float and not -BIG < item < BIG:  # also NaN and infinity
            return False
    return True


def _locate(value: Any, path: str) -> None:
    stack = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(where, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{_key(k)}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise Invalid(where, "expected a finite number")


def _key(key: str) -> str:
    """A key as a nack's path shows it: a hostile one of megabytes is cut."""
    return key if len(key) <= MAX_TEXT else f"{key[:MAX_TEXT]}..."
