"""Helpers for the files pmxcfs and pve-manager keep: section configs, guests of this node, UPIDs.

All of them read files only; nothing here starts a process.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from agent.machine import Machine, SourceError

# PVE::SectionConfig: a section starts at column 0 with `type: id`; its properties are the
# indented `key value` lines that follow, up to a blank line. A bare key is a set flag.
_SECTION_HEADER = re.compile(r"^(\S+):\s*(\S+)\s*$")
_SECTION_PROPERTY = re.compile(r"^\s+(\S+)(?:\s+(.*?))?\s*$")
# PVE::UPID: "UPID:$node:$pid:$pstart:$starttime:$type:$id:$user:" (pstart may have 9 digits).
_UPID = re.compile(
    r"^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
)
_CONF_FILE = re.compile(r"^(\d+)\.conf$")
_TEMPLATE_LINE = re.compile(r"^template:\s*1\s*$", re.MULTILINE)
_NAME_LINE = re.compile(r"^(?:name|hostname):\s*(.*?)\s*$", re.MULTILINE)


def parse_section_config(text: str, what: str) -> list[tuple[str, str, dict[str, str]]]:
    """`(type, id, properties)` for every section of a PVE section config file.

    A property line outside any section is a SourceError naming the line; `#` lines are skipped.
    """
    sections: list[tuple[str, str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            current = None
            continue
        if line.lstrip().startswith("#"):
            continue
        header = _SECTION_HEADER.match(line)
        if header and not line[0].isspace():
            current = {}
            sections.append((header.group(1), header.group(2), current))
            continue
        prop = _SECTION_PROPERTY.match(line)
        if prop is None or current is None:
            raise SourceError(f"{what}: line {number}: not part of a section")
        current[prop.group(1)] = prop.group(2) if prop.group(2) is not None else "1"
    return sections


def split_list(text: str) -> list[str]:
    """PVE list values: `100,101`, `100;101`, `100 101`."""
    return [part for part in re.split(r"[,;\s]+", text.strip()) if part]


def vmid_list(text: str, what: str) -> list[int]:
    vmids = []
    for part in split_list(text):
        if not part.isdigit():
            raise SourceError(f"{what}: {part!r:.40} is not a guest id")
        vmids.append(int(part))
    return vmids


def decode_upid(upid: str) -> dict[str, Any] | None:
    """The fields of a task's UPID, or None when it is not one."""
    match = _UPID.match(upid)
    if not match:
        return None
    return {
        "upid": upid,
        "node": match.group(1),
        "starttime": int(match.group(4), 16),
        "type": match.group(5),
        "id": match.group(6),
        "user": match.group(7),
        # The task log lives in /var/log/pve/tasks/<last hex digit of starttime>/<UPID>.
        "subdir": match.group(4)[7],
    }


def iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_guests(machine: Machine, node: str) -> dict[int, dict[str, Any]]:
    """The guests whose config lives on this node: `{vmid: {"type", "name", "template"}}`.

    Only the `name`/`hostname` and `template` lines are read; a config that cannot be read keeps
    its vmid and type with a null name.
    """
    guests: dict[int, dict[str, Any]] = {}
    for guest_type, folder in (("qemu", "qemu-server"), ("lxc", "lxc")):
        base = f"/etc/pve/nodes/{node}/{folder}"
        for filename in machine.listdir(base):
            match = _CONF_FILE.match(filename)
            if not match:
                continue
            try:
                text = machine.read(f"{base}/{filename}").split("\n[", 1)[0]
            except (FileNotFoundError, SourceError):
                text = None
            name = _NAME_LINE.search(text) if text else None
            guests[int(match.group(1))] = {
                "type": guest_type,
                "name": name.group(1) if name else None,
                "template": bool(text and _TEMPLATE_LINE.search(text)),
            }
    return guests
