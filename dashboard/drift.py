"""The fleet drift page's rows: which hosts run other versions than the fleet. Pure: no ORM.

Read from each host's slow-tier `system` facts (metrics/summary.py: SYSTEM_KEYS plus the
DRIFT_KEYS the agent sends from the drift release on). One row per host, one cell per column:

    text    the value as the agent sent it (escaped and cleaned by the template), or None
    known   a value is there
    sent    the agent sends this key at all (False: an older agent, shown "unknown")
    mark    "" | "older" | "newer": the value differs from the fleet's usual one (versions)
    flag    "" | "reboot" | "mismatch" | "pending": what the column warns about

The fleet's usual value of a version column is the one most hosts report; a tie goes to the
newest (a fleet half upgraded is marked on the half that is behind). A host alone in the fleet
is never marked. Unknown values take no part and are never marked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from metrics.drift import boot_kernel, reboot_kernel, version_key

# (column, header); the page's ?sort= takes the column, "-column" for descending
COLUMNS = (
    ("name", "host"),
    ("pve", "Proxmox VE"),
    ("kernel", "running kernel"),
    ("boot", "next boot"),
    ("zfs_userland", "ZFS userland"),
    ("zfs_kmod", "ZFS module"),
    ("agent", "agent"),
    ("updates", "pending updates"),
)
SORTS = {column for column, _ in COLUMNS}
# version columns and the `system` key each reads
VERSIONS = {
    "pve": "pve_version",
    "kernel": "kernel",
    "zfs_userland": "zfs_userland",
    "zfs_kmod": "zfs_kmod",
    "agent": "agent_version",
}
# the columns an older agent (before kernel_newest and the ZFS pair) cannot fill
DRIFT_COLUMNS = ("boot", "zfs_userland", "zfs_kmod")


@dataclass
class Cell:
    text: str | None = None
    sent: bool = True
    mark: str = ""
    flag: str = ""
    number: int | None = None  # pending updates
    note: str = ""  # "pinned": the next boot kernel is proxmox-boot-tool's pin

    @property
    def known(self) -> bool:
        return self.text is not None


@dataclass
class Row:
    name: str
    status: str
    reported: bool  # a slow sample with `system` arrived
    as_of: str | None = None  # that sample's collected_at
    error: str | None = None  # the system source's reason when it failed
    cells: dict[str, Cell] = field(default_factory=dict)
    # the row's markup (dashboard/drift_page.py renders it); not part of what the row says
    html: str = field(default="", repr=False, compare=False)

    @property
    def flagged(self) -> bool:
        return any(cell.flag for cell in self.cells.values())

    def ordered(self) -> list[tuple[str, Cell]]:
        """The cells in column order, for the template (the name column is the row's)."""
        return [(column, self.cells[column]) for column, _ in COLUMNS[1:]]


def _text(value: object) -> str | None:
    # facts hold what the schema let through; anything but a non-empty string is unknown
    return value if isinstance(value, str) and value else None


def host_row(name: str, status: str, facts: dict) -> Row:
    """One host's row from its summary facts (empty when no sample arrived)."""
    slow = facts.get("slow") or {}
    system = slow.get("system")
    error = (slow.get("errors") or {}).get("system")
    if not isinstance(system, dict):
        cells = {column: Cell(sent=False) for column, _ in COLUMNS[1:]}
        return Row(name, status, False, slow.get("collected_at"), error, cells)
    cells = {
        column: Cell(_text(system.get(key)), key in system) for column, key in VERSIONS.items()
    }
    safe = {key: _text(system.get(key)) for key in ("kernel", "kernel_newest", "kernel_pinned")}
    reboot = reboot_kernel(safe)
    cells["boot"] = Cell(
        reboot or boot_kernel(safe),
        "kernel_newest" in system or "kernel_pinned" in system,
        flag="reboot" if reboot else "",
        note="pinned" if safe["kernel_pinned"] else "",
    )
    userland, kmod = cells["zfs_userland"], cells["zfs_kmod"]
    if userland.known and kmod.known and userland.text != kmod.text:
        userland.flag = kmod.flag = "mismatch"
    pending = system.get("pending_updates")
    count = pending if isinstance(pending, int) and not isinstance(pending, bool) else None
    cells["updates"] = Cell(
        None if count is None else str(count),
        "pending_updates" in system,
        flag="pending" if count else "",
        number=count,
    )
    return Row(name, status, True, slow.get("collected_at"), None, cells)


def usual_values(rows: list[Row]) -> dict[str, tuple[str, int, int]]:
    """Each version column's usual value: (value, hosts with it, hosts that report one).
    Columns with fewer than two known values are left out (nothing to compare with)."""
    usual = {}
    for column in VERSIONS:
        counts = Counter(text for r in rows if (text := r.cells[column].text) is not None)
        total = sum(counts.values())
        if total < 2:
            continue
        value, count = max(counts.items(), key=lambda item: (item[1], version_key(item[0])))
        usual[column] = (value, count, total)
    return usual


def mark(rows: list[Row], usual: dict[str, tuple[str, int, int]]) -> None:
    """Mark each version that is not its column's usual one, older or newer."""
    for column, (value, _, _) in usual.items():
        reference = version_key(value)
        for row in rows:
            cell = row.cells[column]
            if cell.known and cell.text != value:
                # "older" unless it orders after the usual one (a different build: older too)
                cell.mark = "newer" if version_key(cell.text or "") > reference else "older"


def _sort_key(column: str):
    if column == "updates":
        return lambda row: row.cells["updates"].number
    if column == "boot":
        # the hosts that need a reboot first, then by kernel
        return lambda row: (not row.cells["boot"].flag, version_key(row.cells["boot"].text or ""))
    return lambda row: version_key(row.cells[column].text or "")


def sort_rows(rows: list[Row], sort: str) -> list[Row]:
    """Rows by `sort` ("pve", "-pve", ...; unknown sorts by name). Hosts whose value is unknown
    come last in both directions, by name; ties are broken by name."""
    descending = sort.startswith("-")
    column = sort.lstrip("-")
    by_name = sorted(rows, key=lambda row: row.name)
    if column not in SORTS or column == "name":
        return by_name[::-1] if descending and column == "name" else by_name
    known = [row for row in by_name if row.cells[column].known]
    unknown = [row for row in by_name if not row.cells[column].known]
    # stable sorts: reversing the key keeps ties in name order
    return sorted(known, key=_sort_key(column), reverse=descending) + unknown


def headers(sort: str) -> list[dict]:
    """The sort links of the header: a column's link sorts by it, the current one reverses."""
    found = []
    for column, label in COLUMNS:
        current = sort.lstrip("-") == column
        descending = current and sort.startswith("-")
        found.append(
            {
                "column": column,
                "label": label,
                "href": f"?sort={'' if descending or not current else '-'}{column}",
                "aria": ("descending" if descending else "ascending") if current else "",
            }
        )
    return found


def tally(rows: list[Row]) -> dict[str, int]:
    """The counts of the page's summary line."""
    return {
        "hosts": len(rows),
        "reboot": sum(1 for r in rows if r.cells["boot"].flag),
        "mismatch": sum(1 for r in rows if r.cells["zfs_userland"].flag),
        "pending": sum(1 for r in rows if r.cells["updates"].flag),
        "not_reported": sum(1 for r in rows if not r.reported),
        "older_agents": sum(
            1 for r in rows if r.reported and not any(r.cells[c].sent for c in DRIFT_COLUMNS)
        ),
    }
