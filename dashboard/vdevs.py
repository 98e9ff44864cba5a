"""The vdev tree of a pool, from the raw `zpool status -j --json-flat-vdevs` the agent kept."""

from __future__ import annotations

from dataclasses import dataclass, field

BAD = {"DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED"}
CLASS_TITLES = {
    "log": "logs",
    "l2cache": "cache",
    "spare": "spares",
    "special": "special",
    "dedup": "dedup",
}


@dataclass
class Vdev:
    name: str
    kind: str
    state: str
    read: int | None
    write: int | None
    checksum: int | None
    depth: int = 0
    children: list[Vdev] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return self.state in BAD

    @property
    def errors(self) -> bool:
        return any((self.read, self.write, self.checksum))


def tree(raw_status: dict | None, pool: str) -> list[tuple[str, list[Vdev]]]:
    """[(section title, rows in display order)]; empty when the raw output is not JSON."""
    if not isinstance(raw_status, dict):
        return []
    entry = (raw_status.get("pools") or {}).get(pool)
    if not isinstance(entry, dict) or not isinstance(entry.get("vdevs"), dict):
        return []
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
        parents[name] = item.get("parent")
        classes[name] = str(item.get("class") or "normal")
    roots: list[Vdev] = []
    for name, node in nodes.items():
        parent = parents[name]
        if parent in nodes:
            nodes[parent].children.append(node)
        else:
            roots.append(node)
    sections: dict[str, list[Vdev]] = {}
    for root in roots:
        title = CLASS_TITLES.get(classes[root.name], "") if root.kind != "root" else ""
        rows = sections.setdefault(title, [])
        _walk(root, 0, rows)
    ordered = sorted(sections.items(), key=lambda kv: (kv[0] != "", kv[0]))
    return ordered


def _walk(node: Vdev, depth: int, rows: list[Vdev]) -> None:
    node.depth = depth
    rows.append(node)
    for child in node.children:
        _walk(child, depth + 1, rows)


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def text_config(status_text: str | None, pool: str) -> str:
    """The `config:` block of one pool from `zpool status` text (OpenZFS before 2.3)."""
    if not isinstance(status_text, str):
        return ""
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
    return "\n".join(lines).strip("\n")
