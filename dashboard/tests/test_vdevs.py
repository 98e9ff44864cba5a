"""The vdev tree of the host page, from the raw zpool output the agent kept: JSON (OpenZFS 2.3+),
text (before 2.3), and whatever else an agent may send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import vdevs

FIXTURES = Path(__file__).resolve().parents[2] / "agent" / "tests" / "fixtures" / "zfs"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def rows(tree: vdevs.Tree) -> list[tuple[str, str, int, str, bool]]:
    return [
        (title, v.name, v.depth, v.state, v.bad)
        for title, section in tree.sections
        for v in section
    ]


def test_text_tree_marks_a_faulted_leaf_as_the_json_tree_does():
    raw = {"status_text": text("zpool-status-x-text-degraded-faulted-cannot-open-docs.txt")}
    tree = vdevs.layout(raw, "test")
    assert not tree.unreadable
    assert rows(tree) == [
        ("", "test", 0, "DEGRADED", True),
        ("", "mirror", 1, "DEGRADED", True),
        ("", "sda", 2, "ONLINE", False),
        ("", "sdb", 2, "FAULTED", True),
    ]
    sdb = tree.sections[0][1][3]
    assert (sdb.read, sdb.write, sdb.checksum, sdb.note) == (0, 0, 0, "cannot open")


def test_text_tree_with_sections_spares_and_replacing():
    raw = {"status_text": text("zpool-status-text-draid-healing-resilver-replacing-docs.txt")}
    tree = vdevs.layout(raw, "tank")
    found = rows(tree)
    assert ("", "sdg", 4, "UNAVAIL", True) in found
    assert ("", "replacing-0", 3, "DEGRADED", True) in found
    assert ("", "sdl", 4, "ONLINE", False) in found
    assert found[-1] == ("spares", "draid1-0-0", 0, "INUSE", False)
    assert [v.note for v in tree.sections[0][1] if v.name == "sdl"] == ["(resilvering)"]


def test_text_tree_of_each_pool_in_a_multi_pool_output():
    raw = {"status_text": text("zpool-status-PLpvs-text-raidz1x4-special-removal.txt")}
    tank = vdevs.layout(raw, "tank")
    assert [title for title, _ in tank.sections] == ["", "special"]
    special = tank.sections[1][1]
    assert [(v.name, v.depth) for v in special] == [
        ("mirror-4", 0),
        ("/dev/sdm1", 1),
        ("/dev/sdn1", 1),
        ("/dev/sdp1", 1),
    ]
    assert tank.sections[0][1][0].checksum == 0  # READ WRITE CKSUM, not the SLOW column
    zeta = vdevs.layout(raw, "zeta")
    assert [v.name for v in zeta.sections[0][1]] == ["zeta", "mirror-1", "/dev/sdr1", "/dev/sds1"]


def test_json_tree_marks_bad_leaves():
    status = json.loads(text("zpool-status-flat-int-degraded-mirror-spare-inuse-log-cache.json"))
    pool = next(iter(status["pools"]))
    tree = vdevs.layout({"status": status}, pool)
    assert not tree.unreadable and tree.sections
    assert any(bad for *_, bad in rows(tree))


CYCLE = {"status": {"pools": {"rpool": {"vdevs": {"a": {"parent": "b"}, "b": {"parent": "a"}}}}}}


def chain(n: int) -> dict:
    """A flat vdev map where each vdev is the parent of the next: n levels deep."""
    vdevs_ = {
        f"v{i}": {"vdev_type": "disk", "state": "ONLINE", "parent": f"v{i - 1}" if i else None}
        for i in range(n)
    }
    return {"status": {"pools": {"rpool": {"vdevs": vdevs_}}}}


@pytest.mark.parametrize(
    ("raw", "unreadable"),
    [
        pytest.param(None, False, id="null"),
        pytest.param({}, False, id="empty-object"),
        pytest.param({"status": None, "list": None}, False, id="no-pools"),
        pytest.param([1, 2, 3], True, id="list"),
        pytest.param("zpool status went wrong", True, id="string"),
        pytest.param(42, True, id="number"),
        pytest.param({"status": "text"}, True, id="status-text-where-json-belongs"),
        pytest.param({"status": {"pools": ["rpool"]}}, True, id="pools-a-list"),
        pytest.param({"status": {"pools": {"rpool": "x"}}}, True, id="pool-a-string"),
        pytest.param({"status": {"pools": {"rpool": {"vdevs": [1]}}}}, True, id="vdevs-a-list"),
        pytest.param(
            {"status": {"pools": {"rpool": {"vdevs": {"a": {"parent": ["x"]}, "b": 7}}}}},
            False,
            id="unhashable-parent",
        ),
        pytest.param(
            CYCLE,
            True,
            id="cycle",
        ),
        pytest.param(chain(3000), True, id="chain-3000-deep"),
        pytest.param({"status_text": ["pool: rpool"]}, True, id="status-text-a-list"),
        pytest.param({"status_text": "  pool: rpool\nconfig:\n\x00\x00\x00\n"}, False, id="junk"),
    ],
)
def test_hostile_raw_gives_a_tree_or_unreadable_never_an_exception(raw, unreadable):
    tree = vdevs.layout(raw, "rpool")
    assert tree.unreadable is unreadable
    if unreadable:
        assert tree.sections == []


def test_a_deep_but_real_tree_is_shown():
    tree = vdevs.layout(chain(6), "rpool")
    assert [v.depth for v in tree.sections[0][1]] == [0, 1, 2, 3, 4, 5]
