"""The vdev tree of a pool, from the raw zpool output the agent kept (docs/protocol.md, fast
`zfs_pools.raw`): `zpool status -j --json-flat-vdevs` on OpenZFS 2.3 and later
(`{"status": {...}}`), the text of `zpool status -p` before (`{"status_text": "..."}`).

Raw output is whatever an agent sent: `layout` gives a tree, nothing (no raw output, or none for
this pool), or "not readable", and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

BAD = {"DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED"}
CLASS_TITLES = {
    "log": "logs",
    "l2cache": "cache",
    "spare": "spares",
    "special": "special",
    "dedup": "dedup",
}
TEXT_SECTIONS = frozenset({"logs", "cache", "spares", "special", "dedup"})
MAX_DEPTH = 32  # real vdev trees are about five levels deep
_COUNTER = re.compile(r"(\d+(?:\.\d+)?)([KMGTPE]?)")  # "0", "12", "1.2K" without -p
_SUFFIXES = " KMGTPE"


@dataclass
class Vdev:
    name: str
    kind: str
    state: str
    read: int | None
    write: int | None
    checksum: int | None
    depth: int = 0
    note: str = ""  # text's trailing words: "cannot open", "(resilvering)"
    disk: tuple[str, str] | None = None  # (level, words) of the disk's SMART state (disks.py)
    children: list[Vdev] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return self.state in BAD

    @property
    def errors(self) -> bool:
        return any((self.read, self.write, self.checksum))


Sections = list[tuple[str, list[Vdev]]]  # [(section title, rows in display order)]


@dataclass
class Tree:
    sections: Sections = field(default_factory=list)
    unreadable: bool = False


def layout(raw: Any, pool: str) -> Tree:
    """The tree of `pool` from a sample's `zfs_pools.raw`, whatever its form."""
    if raw is None:
        return Tree()
    if not isinstance(raw, dict):
        return Tree(unreadable=True)
    if raw.get("status") is not None:
        sections = _json_tree(raw["status"], pool)
    elif raw.get("status_text") is not None:
        sections = _text_tree(raw["status_text"], pool)
    else:
        return Tree()  # no pools, or an agent that kept nothing
    return Tree(unreadable=True) if sections is None else Tree(sections)


def _json_tree(status: Any, pool: str) -> Sections | None:
    """From `zpool status -j --json-flat-vdevs`; None when it is not shaped like that."""
    if not isinstance(status, dict) or not isinstance(status.get("pools"), dict):
        return None
    entry = status["pools"].get(pool)
    if entry is None:
        return []
    if not isinstance(entry, dict) or not isinstance(entry.get("vdevs"), dict):
        return None
    nodes: dict[str, Vdev] = {}
    parents: dict[str, str | None] = {}
    classes: dict[str, str] = {}
    for name, item in entry["vdevs"].items():
        if not isinstance(item, dict):
            continue
        nodes[name] = Vdev(
            name=name,
            kind=str(item.get("vdev_type") or ""),
            state=str(item.get("state") or ""),
            read=_int(item.get("read_errors")),
            write=_int(item.get("write_errors")),
            checksum=_int(item.get("checksum_errors")),
        )
        parent = item.get("parent")
        parents[name] = parent if isinstance(parent, str) else None
        classes[name] = str(item.get("class") or "normal")
    roots: list[Vdev] = []
    for name, node in nodes.items():
        parent = parents[name]
        if parent in nodes and parent != name:
            nodes[parent].children.append(node)
        else:
            roots.append(node)
    sections: dict[str, list[Vdev]] = {}
    for root in roots:
        title = CLASS_TITLES.get(classes[root.name], "") if root.kind != "root" else ""
        if not _walk(root, sections.setdefault(title, [])):
            return None
    if sum(len(rows) for rows in sections.values()) != len(nodes):
        return None  # parents in a circle: those vdevs hang from no root
    return sorted(sections.items(), key=lambda kv: (kv[0] != "", kv[0]))


def _walk(root: Vdev, rows: list[Vdev]) -> bool:
    """Depth first into `rows`, without recursion; False past MAX_DEPTH."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        node.depth = depth
        rows.append(node)
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return True


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text_tree(status_text: Any, pool: str) -> Sections | None:
    """From the `config:` block of `zpool status -p` text: NAME STATE READ WRITE CKSUM [SLOW]
    rows, two spaces of indent per level, class sections ("logs", "spares") at the left."""
    if not isinstance(status_text, str):
        return None
    sections: dict[str, list[Vdev]] = {}
    title, base = "", None
    for line in _config_lines(status_text, pool):
        expanded = line.expandtabs(8)
        tokens = expanded.split()
        if not tokens:
            continue
        indent = len(expanded) - len(expanded.lstrip())
        if base is None:
            base = indent
            if tokens[0] == "NAME":
                continue
        if len(tokens) == 1 and tokens[0] in TEXT_SECTIONS and indent <= base:
            title = tokens[0]
            continue
        depth = max(indent - base, 0) // 2
        if title:
            depth = max(depth - 1, 0)  # the section's own rows sit at its left, as in JSON
        counters = [_count(token) for token in tokens[2:5]]
        numeric = len(counters) == 3 and None not in counters
        rest = tokens[5:] if numeric else tokens[2:]
        if numeric and rest and _COUNTER.fullmatch(rest[0]):
            rest = rest[1:]  # the SLOW column of `zpool status -s`
        sections.setdefault(title, []).append(
            Vdev(
                name=tokens[0],
                kind="",
                state=tokens[1] if len(tokens) > 1 else "",
                read=counters[0] if numeric else None,
                write=counters[1] if numeric else None,
                checksum=counters[2] if numeric else None,
                depth=min(depth, MAX_DEPTH),
                note=" ".join(rest),
            )
        )
    return sorted(sections.items(), key=lambda kv: (kv[0] != "", kv[0]))


def _count(token: str) -> int | None:
    found = _COUNTER.fullmatch(token)
    if not found:
        return None
    return int(float(found[1]) * 1024 ** _SUFFIXES.index(found[2] or " "))


def _config_lines(status_text: str, pool: str) -> list[str]:
    """The lines of the `config:` block of one pool in `zpool status` text."""
    lines, inside, mine = [], False, False
    for line in status_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("pool:"):
            mine = stripped.split(":", 1)[1].strip() == pool
            inside = False
        elif mine and stripped.startswith("config:"):
            inside = True
        elif mine and inside and stripped.startswith("errors:"):
            break
        elif inside and mine:
            lines.append(line.rstrip())
    return lines
