"""datasets: the real fixtures in fixtures/zfs (provenance in fixtures/SOURCES.md), hand-made
Proxmox-like outputs, malformed input, and collect() through stand-in `zfs` programs.

No real `zfs list -j --json-int` capture with snapshot creation times is stored, so
`handmade-zfs-list-j-int-pve-rpool.json` was written in the shape of the zfs-list(8) JSON example
(datasets keyed by name, properties as {value, source}, snapshots with `dataset` and
`snapshot_name`) with --json-int integers and epoch `creation`, for a PVE-style rpool; and
`handmade-zfs-list-Hp-pve-rpool.txt` holds the same values as `zfs list -Hp` prints them.
"""

import json
import time
from pathlib import Path

import pytest

from agent.collectors import datasets
from agent.collectors.zfs_text import JSON_MEMO_KEY
from agent.machine import Machine, NotApplicable, SourceError

ZFS = Path(__file__).parent / "fixtures" / "zfs"
MANPAGE = "zfs-list-j-t-filesystem-snapshot-manpage-example.json"
PVE_JSON = "handmade-zfs-list-j-int-pve-rpool.json"
PVE_TEXT = "handmade-zfs-list-Hp-pve-rpool.txt"
GIB = 1024**3


def read(name: str) -> str:
    return (ZFS / name).read_text()


def by_name(data: dict) -> dict:
    return {dataset["name"]: dataset for dataset in data["datasets"]}


def test_manpage_filesystems_with_one_snapshot_and_human_sizes():
    data = datasets.parse_json(read(MANPAGE))
    assert data["datasets"] == [
        {
            "name": "pool",
            "type": "filesystem",
            "used": 290 * 1024,
            "available": int(30.5 * GIB),
            "referenced": 24 * 1024,
            "usedbysnapshots": None,  # not asked for in the example
            "snapshot_count": 0,
            "oldest_snapshot": None,
            "newest_snapshot": None,
        },
        {
            "name": "pool/home",
            "type": "filesystem",
            "used": 48 * 1024,
            "available": int(30.5 * GIB),
            "referenced": 24 * 1024,
            "usedbysnapshots": None,
            "snapshot_count": 0,
            "oldest_snapshot": None,
            "newest_snapshot": None,
        },
        {
            "name": "pool/home/bob",
            "type": "filesystem",
            "used": 24 * 1024,
            "available": int(30.5 * GIB),
            "referenced": 24 * 1024,
            "usedbysnapshots": None,
            "snapshot_count": 1,
            "oldest_snapshot": None,  # no creation property in the example
            "newest_snapshot": None,
        },
    ]
    raw = data["raw"]
    assert list(raw["datasets"]) == ["pool", "pool/home", "pool/home/bob"]
    assert raw["output_version"]["command"] == "zfs list"


def test_zfs_get_document_in_the_same_envelope_gives_datasets_with_unknown_sizes():
    data = datasets.parse_json(read("zfs-get-j-r-mountpoint-manpage-example.json"))
    assert [d["name"] for d in data["datasets"]] == ["pool/home", "pool/home/bob"]
    assert all(d["used"] is None and d["snapshot_count"] == 0 for d in data["datasets"])


def test_pve_volume_snapshots_give_count_oldest_and_newest_and_bookmarks_are_ignored():
    data = datasets.parse_json(read(PVE_JSON))
    found = by_name(data)
    assert list(found) == [
        "rpool",
        "rpool/ROOT",
        "rpool/ROOT/pve-1",
        "rpool/data",
        "rpool/data/subvol-101-disk-0",
        "rpool/data/vm-100-disk-0",
    ]
    assert found["rpool/data/vm-100-disk-0"] == {
        "name": "rpool/data/vm-100-disk-0",
        "type": "volume",
        "used": 40 * GIB,
        "available": 400 * GIB,
        "referenced": 8 * GIB,
        "usedbysnapshots": 2 * GIB,
        "snapshot_count": 3,
        "oldest_snapshot": "2024-06-01T00:00:01Z",
        "newest_snapshot": "2024-06-03T00:00:01Z",
    }
    pve_root = found["rpool/ROOT/pve-1"]
    assert (pve_root["snapshot_count"], pve_root["usedbysnapshots"]) == (1, 1048576)
    assert pve_root["oldest_snapshot"] == pve_root["newest_snapshot"] == "2024-03-09T16:00:00Z"
    # A parent's count holds only its own snapshots, not its children's.
    assert found["rpool/data"]["snapshot_count"] == 0
    assert found["rpool/data/subvol-101-disk-0"]["oldest_snapshot"] is None


def test_raw_keeps_filesystems_and_volumes_but_not_snapshots_or_bookmarks():
    raw = datasets.parse_json(read(PVE_JSON))["raw"]
    assert list(raw["datasets"]) == list(by_name(datasets.parse_json(read(PVE_JSON))))
    assert raw["datasets"]["rpool"] == json.loads(read(PVE_JSON))["datasets"]["rpool"]
    assert raw["output_version"] == {"command": "zfs list", "vers_major": 0, "vers_minor": 1}


def test_text_output_summarises_like_json_and_raw_keeps_only_dataset_lines():
    data = datasets.parse_text(read(PVE_TEXT))
    assert data["datasets"] == datasets.parse_json(read(PVE_JSON))["datasets"]
    lines = data["raw"]["list_text"].splitlines()
    assert len(lines) == 6
    assert not any("@" in line or "#" in line for line in lines)


def test_snapshot_without_dataset_key_belongs_to_the_name_before_the_at_sign():
    doc = json.loads(read(PVE_JSON))
    for entry in doc["datasets"].values():
        entry.pop("dataset", None)
    found = by_name(datasets.parse_json(json.dumps(doc)))
    assert found["rpool/data/vm-100-disk-0"]["snapshot_count"] == 3


def test_creation_as_a_zfs_date_string_is_read_in_the_hosts_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        doc = json.loads(read(MANPAGE))  # the manpage snapshot, given a non-int creation
        snapshot = doc["datasets"]["pool/home/bob@v1"]
        snapshot["properties"]["creation"] = {"value": "Sun Jan  7 02:35 2024"}
        bob = by_name(datasets.parse_json(json.dumps(doc)))["pool/home/bob"]
        assert bob["oldest_snapshot"] == "2024-01-07T02:35:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        read(PVE_JSON)[:500],  # truncated hand-made document
        "cannot open 'rpool': dataset does not exist",
        "[]",
        "{}",
        '{"datasets": []}',
        '{"datasets": {"rpool": "FILESYSTEM"}}',
        '{"datasets": {"rpool": {"name": "rpool"}}}',
        '{"datasets": {"rpool": {"name": "rpool", "type": 1}}}',
        '{"datasets": {"rpool": {"name": "rpool", "type": "FILESYSTEM", "properties": []}}}',
        '{"datasets": {"rpool": {"type": "FILESYSTEM", "properties": {"used": {"value": [1]}}}}}',
        '{"datasets": {"rpool": {"type": "FILESYSTEM", "properties": {"used": {"value": true}}}}}',
        '{"datasets": {"r@s": {"type": "SNAPSHOT", "dataset": 7}}}',
    ],
)
def test_malformed_json_is_a_source_error(text):
    with pytest.raises(SourceError):
        datasets.parse_json(text)


@pytest.mark.parametrize(
    "text",
    ["", " \n", "NAME USED AVAIL REFER\n", "rpool\tfilesystem\t1\t2\n", "a\tb\tc\td\te\tf\tg\th\n"],
)
def test_malformed_text_is_a_source_error(text):
    with pytest.raises(SourceError):
        datasets.parse_text(text)


def test_text_dashes_are_null_sizes():
    # Hand-made: a volume line whose sizes ZFS could not give.
    (volume,) = datasets.parse_text("tank/vm-1-disk-0\tvolume\t-\t-\t-\t-\t-\n")["datasets"]
    assert volume["used"] is None and volume["usedbysnapshots"] is None


# --- collect() through stand-in zfs programs ---------------------------------------------------


def fake_host(tmp_path: Path, zfs_body: str | None) -> Machine:
    """A host whose `zfs` stand-in logs its arguments to calls.log and runs `zfs_body` (none: no
    zfs installed). The stand-ins use absolute paths: PATH is only this folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if zfs_body is not None:
        zfs = bin_dir / "zfs"
        zfs.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls.log"}\n{zfs_body}\n')
        zfs.chmod(0o755)
    return Machine(root=tmp_path, path=str(bin_dir))


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


PROPERTIES = "name,type,used,available,referenced,usedbysnapshots,creation"
# zfs 2.1/2.2 as getopt rejects -j: message and usage on stderr, exit status 2.
TEXT_ZFS = f"""
case "$2" in -j) echo "invalid option 'j'" >&2; echo "usage:" >&2; exit 2 ;; esac
exec /bin/cat {ZFS / PVE_TEXT}
"""


def test_collect_runs_one_json_command(tmp_path):
    machine = fake_host(tmp_path, f"exec /bin/cat {ZFS / PVE_JSON}")
    data = datasets.collect(machine)
    assert machine.spawned == 1
    assert calls(tmp_path) == [f"list -j --json-int -t all -o {PROPERTIES}"]
    assert data == datasets.parse_json(read(PVE_JSON))
    assert machine.memo[JSON_MEMO_KEY] is True


def test_collect_falls_back_to_text_once_zfs_rejects_json(tmp_path):
    machine = fake_host(tmp_path, TEXT_ZFS)
    first = datasets.collect(machine)
    assert machine.spawned == 2
    second = datasets.collect(machine)
    assert machine.spawned == 3
    assert calls(tmp_path) == [
        f"list -j --json-int -t all -o {PROPERTIES}",
        f"list -Hp -t all -o {PROPERTIES}",
        f"list -Hp -t all -o {PROPERTIES}",
    ]
    assert first == second == datasets.parse_text(read(PVE_TEXT))


def test_collect_uses_text_at_once_when_zpool_already_rejected_json(tmp_path):
    machine = fake_host(tmp_path, TEXT_ZFS)
    machine.memo[JSON_MEMO_KEY] = False  # as zfs_pools leaves it on an OpenZFS 2.2 host
    datasets.collect(machine)
    assert machine.spawned == 1
    assert calls(tmp_path) == [f"list -Hp -t all -o {PROPERTIES}"]


def test_collect_hanging_zfs_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path, "exec /bin/sleep 30")
    with pytest.raises(SourceError, match="timed out"):
        datasets.collect(machine, timeout=0.3)


def test_collect_garbage_output_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path, "echo 'Segmentation fault'")
    with pytest.raises(SourceError, match="zfs list: invalid JSON"):
        datasets.collect(machine)


def test_collect_without_zfs_is_not_applicable(tmp_path):
    machine = fake_host(tmp_path, None)
    with pytest.raises(NotApplicable):
        datasets.collect(machine)
    assert machine.spawned == 0


def test_collect_on_a_host_without_datasets_gives_an_empty_list(tmp_path):
    machine = fake_host(tmp_path, 'echo "no datasets available" >&2')
    assert datasets.collect(machine)["datasets"] == []
