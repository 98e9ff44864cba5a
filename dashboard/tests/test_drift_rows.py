"""dashboard/drift.py's rules on their own (pure, no database): the fleet's usual version, its
ties, a host alone, values that are no text."""

from __future__ import annotations

from dashboard import drift


def row(name: str, **system) -> drift.Row:
    return drift.host_row(name, "online", {"slow": {"system": system}})


def marked(rows: list[drift.Row], column: str) -> dict[str, str]:
    drift.mark(rows, drift.usual_values(rows))
    return {r.name: r.cells[column].mark for r in rows}


def test_a_tie_goes_to_the_newest_so_the_half_behind_is_marked():
    rows = [row("a", pve_version="8.4.14"), row("b", pve_version="9.1.1")]
    assert drift.usual_values(rows)["pve"] == ("9.1.1", 1, 2)
    assert marked(rows, "pve") == {"a": "older", "b": ""}


def test_most_hosts_win_over_the_newest():
    rows = [row(n, pve_version="8.4.14") for n in "abc"] + [row("d", pve_version="9.1.1")]
    assert marked(rows, "pve") == {"a": "", "b": "", "c": "", "d": "newer"}


def test_numbers_compare_as_numbers():
    rows = [row(n, kernel="6.8.12-9-pve") for n in "ab"] + [row("c", kernel="6.8.12-10-pve")]
    assert marked(rows, "kernel")["c"] == "newer"


def test_a_host_alone_and_unknown_values_are_not_compared():
    assert marked([row("a", pve_version="8.4.14")], "pve") == {"a": ""}
    rows = [row("a", pve_version="8.4.14"), row("b", pve_version=None), row("c")]
    assert drift.usual_values(rows) == {}
    assert marked(rows, "pve") == {"a": "", "b": "", "c": ""}


def test_values_that_are_no_text_are_unknown_not_an_error():
    # facts stored before the schema checked the drift keys may hold anything
    odd = row("a", kernel="6.8.12-15-pve", kernel_newest=6, zfs_kmod={}, pending_updates=True)
    assert not odd.cells["boot"].known and odd.cells["boot"].flag == ""
    assert not odd.cells["zfs_kmod"].known and not odd.cells["updates"].known
    fine = row("b", kernel="6.8.12-15-pve", kernel_newest="6.8.12-15-pve")
    for sort in ("boot", "-boot"):
        assert [r.name for r in drift.sort_rows([odd, fine], sort)] == ["b", "a"]


def test_older_agent_cells_are_unknown_and_say_the_agent_did_not_send_them():
    old = row("a", pve_version="8.4.14", kernel="6.8.12-15-pve", agent_version="0.0.9")
    assert [c for c in drift.DRIFT_COLUMNS if old.cells[c].sent] == []
    assert old.cells["pve"].known and old.reported
    assert drift.tally([old])["older_agents"] == 1
