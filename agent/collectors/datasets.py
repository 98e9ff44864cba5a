"""ZFS filesystems and volumes with their space and snapshot summary: one command per cycle.

OpenZFS >= 2.3:

    zfs list -j --json-int -t all -o name,type,used,available,referenced,usedbysnapshots,creation

Older OpenZFS (PVE 7.4 / 8.x) rejects `-j` (noticed once per Machine, shared with zfs_pools):

    zfs list -Hp -t all -o name,type,used,available,referenced,usedbysnapshots,creation

Each filesystem or volume gives `{"name", "type", "used", "available", "referenced",
"usedbysnapshots", "snapshot_count", "oldest_snapshot", "newest_snapshot"}` (PROTOCOL.md, medium
tier); sizes in bytes, null when ZFS gives "-" or the property is absent. oldest/newest_snapshot
are the RFC 3339 `creation` times of the dataset's own snapshots (not its children's), null when
it has none. Bookmarks (and any other type) are ignored.

`raw` does not hold the whole output: hosts with tens of thousands of snapshots would make every
sample huge, and the per-dataset summary is what matters. JSON: the document with only its
filesystems and volumes under `datasets`. Text: `{"list_text": <the filesystem and volume lines>}`.
A host with zfs but no dataset gives `{"datasets": []}`.
"""

from __future__ import annotations

from typing import Any

from agent.collectors.zfs_text import (
    load_json,
    rfc3339,
    run_json,
    to_epoch,
    to_int,
    to_str,
)
from agent.machine import Machine, SourceError

SOURCE = "datasets"
TIER = "medium"

# Listing every snapshot is slow on big hosts; the medium cycle is 5 minutes.
TIMEOUT_S = 60.0

PROPERTIES = "name,type,used,available,referenced,usedbysnapshots,creation"
LIST_JSON_ARGV = ["zfs", "list", "-j", "--json-int", "-t", "all", "-o", PROPERTIES]
LIST_TEXT_ARGV = ["zfs", "list", "-Hp", "-t", "all", "-o", PROPERTIES]

_KEPT = ("filesystem", "volume")
_SIZES = ("used", "available", "referenced", "usedbysnapshots")


def parse_json(text: str) -> dict[str, Any]:
    """The source's data from `zfs list -j --json-int -t all -o ...` (string numbers work too)."""
    doc = load_json(text, "zfs list")
    if not isinstance(doc, dict):
        raise SourceError(f"zfs list: expected a JSON object, got {type(doc).__name__}")
    entries = doc.get("datasets")
    if entries is None and "output_version" in doc:
        entries = {}  # a well-formed document about no datasets
    if not isinstance(entries, dict):
        raise SourceError("zfs list: 'datasets' is missing or not an object")
    datasets: dict[str, dict[str, Any]] = {}
    snapshots: list[tuple[str, int | None]] = []
    kept = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise SourceError(f"zfs list: {key}: expected an object")
        name = to_str(entry.get("name"), f"zfs list: {key}: name") or key
        kind = (to_str(entry.get("type"), f"zfs list: {name}: type") or "").lower()
        if not kind:
            raise SourceError(f"zfs list: {name}: no type")
        properties = entry.get("properties", {})
        if not isinstance(properties, dict):
            raise SourceError(f"zfs list: {name}: properties: expected an object")
        values = {prop: _value(properties.get(prop)) for prop in (*_SIZES, "creation")}
        if kind in _KEPT:
            datasets[name] = _dataset(name, kind, values)
            kept[key] = entry
        elif kind == "snapshot":
            parent = to_str(entry.get("dataset"), f"zfs list: {name}: dataset")
            snapshots.append(
                (
                    parent or name.partition("@")[0],
                    to_epoch(values["creation"], f"zfs list: {name}: creation"),
                )
            )
    _add_snapshots(datasets, snapshots)
    raw = {key: value for key, value in doc.items() if key != "datasets"}
    raw["datasets"] = kept
    return {"datasets": list(datasets.values()), "raw": raw}


def parse_text(text: str) -> dict[str, Any]:
    """The source's data from `zfs list -Hp -t all -o ...` (tab-separated, exact numbers)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SourceError("zfs list: empty output")
    datasets: dict[str, dict[str, Any]] = {}
    snapshots: list[tuple[str, int | None]] = []
    kept = []
    for number, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) != 7:
            raise SourceError(
                f"zfs list: line {number}: expected 7 tab-separated fields, got {len(fields)}"
            )
        name, kind, *numbers = (field.strip() for field in fields)
        values = dict(zip((*_SIZES, "creation"), numbers, strict=True))
        if kind in _KEPT:
            datasets[name] = _dataset(name, kind, values)
            kept.append(line)
        elif kind == "snapshot":
            creation = to_epoch(values["creation"], f"zfs list: {name}: creation")
            snapshots.append((name.partition("@")[0], creation))
    _add_snapshots(datasets, snapshots)
    return {
        "datasets": list(datasets.values()),
        "raw": {"list_text": "".join(f"{line}\n" for line in kept)},
    }


def collect(machine: Machine, *, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    text = run_json(machine, LIST_JSON_ARGV, timeout)
    if text is not None:
        if not text.strip():  # no dataset: zfs says so on stderr and prints nothing
            return {"datasets": [], "raw": {}}
        return parse_json(text)
    text = machine.run(LIST_TEXT_ARGV, timeout=timeout)
    if not text.strip():
        return {"datasets": [], "raw": {"list_text": ""}}
    return parse_text(text)


def _value(entry: Any) -> Any:
    """A property's value: `{"value": ..., "source": {...}}` in zfs list JSON."""
    return entry.get("value") if isinstance(entry, dict) else entry


def _dataset(name: str, kind: str, values: dict[str, Any]) -> dict[str, Any]:
    dataset: dict[str, Any] = {"name": name, "type": kind}
    for prop in _SIZES:
        dataset[prop] = to_int(values.get(prop), f"zfs list: {name}: {prop}")
    dataset.update(snapshot_count=0, oldest_snapshot=None, newest_snapshot=None)
    return dataset


def _add_snapshots(
    datasets: dict[str, dict[str, Any]], snapshots: list[tuple[str, int | None]]
) -> None:
    created: dict[str, list[int]] = {}
    for parent, creation in snapshots:
        dataset = datasets.get(parent)
        if dataset is None:
            continue  # `-t all` always lists the parent; a race with zfs destroy otherwise
        dataset["snapshot_count"] += 1
        if creation is not None:
            created.setdefault(parent, []).append(creation)
    for parent, times in created.items():
        datasets[parent]["oldest_snapshot"] = rfc3339(min(times))
        datasets[parent]["newest_snapshot"] = rfc3339(max(times))
