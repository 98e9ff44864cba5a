"""Helpers shared by the Proxmox collectors: node name, `pvesh` JSON, PVE value conventions.

The Proxmox API hands out numbers and booleans loosely: `"memory": "2048"` beside `"cores": 4`,
`"enabled": 1`, `"shared": "0"`, `"vmid": "106"`. The converters below accept all of those and
turn anything else into a SourceError with a one-line reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from agent.machine import Machine, SourceError

PVESH_TIMEOUT_S = 20.0

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")


def read_text(machine: Machine, path: str) -> str:
    """Read a host file; a missing file is a SourceError naming it."""
    try:
        return machine.read(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: missing") from None


def node_name(machine: Machine) -> str:
    """The Proxmox node name: the short hostname, as PVE derives it (cut at the first dot)."""
    name = read_text(machine, "/proc/sys/kernel/hostname").strip().split(".", 1)[0]
    if not name:
        raise SourceError("/proc/sys/kernel/hostname: empty")
    return name


def parse_json(text: str, what: str) -> Any:
    """Decode JSON; anything unreadable is a SourceError with a one-line reason naming `what`."""
    if not text.strip():
        raise SourceError(f"{what}: empty output")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{what}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise SourceError(f"{what}: not JSON (nested too deeply)") from None
    except ValueError as exc:
        # e.g. an integer of more than 4,300 digits: the reason has no `.msg`
        reason = str(exc).split(":", 1)[0][:80]
        raise SourceError(f"{what}: not JSON ({reason})") from None


def load_json(text: str, what: str) -> Any:
    """Parse JSON; an API body `{"data": ...}` is unwrapped (pvesh prints the bare data)."""
    value = parse_json(text, what)
    if isinstance(value, dict) and set(value) == {"data"}:
        return value["data"]
    return value


def pvesh_get(machine: Machine, path: str, *args: str, timeout: float = PVESH_TIMEOUT_S) -> Any:
    """`pvesh get PATH ARGS --output-format json`, parsed (one process per call)."""
    argv = ["pvesh", "get", path, *args, "--output-format", "json"]
    return load_json(machine.run(argv, timeout=timeout), f"pvesh get {path}")


def to_int(value: Any, what: str) -> int:
    """An integer from an int, an integral float or a decimal string."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,30}\s*", value):
        return int(value)
    raise SourceError(f"{what}: expected an integer, got {value!r:.40}")


def to_float(value: Any, what: str) -> float:
    """A finite float from a number or a numeric string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise SourceError(f"{what}: expected a number, got {value!r:.40}") from None
    else:
        raise SourceError(f"{what}: expected a number, got {value!r:.40}")
    if not math.isfinite(result):
        raise SourceError(f"{what}: expected a finite number, got {value!r:.40}")
    return result


def to_bool(value: Any, what: str) -> bool:
    """A boolean from PVE's 0/1 (int or string) or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    raise SourceError(f"{what}: expected 0 or 1, got {value!r:.40}")


def to_str(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise SourceError(f"{what}: expected a string, got {value!r:.40}")


def parse_size(text: str, what: str) -> int:
    """A PVE disk size (`32G`, `1M`, `0.5T`, `1048576`) in bytes."""
    match = _SIZE_RE.match(text.strip())
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2)] if match else math.nan
    if not math.isfinite(size):  # also hundreds of digits, which overflow a float
        raise SourceError(f"{what}: bad size {text!r:.40}")
    return int(size)


def split_property_string(text: str) -> tuple[list[str], dict[str, str]]:
    """Split a PVE property string (`virtio=BC:24:..,bridge=vmbr0`, `local:vm-1-disk-0,size=8G`).

    Returns the positional parts (no `=`) and the `key=value` parts.
    """
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if sep:
            named[key.strip()] = value.strip()
        else:
            positional.append(part)
    return positional, named
