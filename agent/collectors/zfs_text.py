"""What the ZFS collectors share: ZFS's number and date formats, vdev counting, and the text
parsers for OpenZFS before 2.3 (PVE 7.4 and 8.x), which has no `-j`.

Text commands (run with LC_ALL=C by the Machine):

    zpool status -p
    zpool list -Hp -o name,size,allocated,free,fragmentation,capacity,health

Dates in the text are ctime strings in the host's local time ("Sun Jan  7 02:35:05 2024"); they
are converted with the agent's own time zone, which is the host's.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from agent.machine import Machine, SourceError

# Machine.memo key shared by zpool and zfs (one package): False once they rejected `-j`.
JSON_MEMO_KEY = "zfs.json_output"

# Leaf states that mean a device is not doing its job. AVAIL and INUSE (spares) are healthy.
BAD_STATES = frozenset({"DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED"})

_UNSUPPORTED = re.compile(r"invalid option|unrecognized option|unknown option|illegal option")
_HUMAN = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTPEZ]?)(?:i?B)?", re.IGNORECASE)
_CTIME = re.compile(
    r"(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) (\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))? (\d{4})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def json_unsupported(exc: SourceError) -> bool:
    """True when zpool/zfs failed because it does not know `-j` (OpenZFS < 2.3)."""
    return bool(_UNSUPPORTED.search(str(exc)))


def run_json(machine: Machine, argv: list[str], timeout: float) -> str | None:
    """Run a `-j` command; None when this OpenZFS has no JSON output (< 2.3).

    The answer is remembered in machine.memo for zpool and zfs alike (one package), so a host
    without `-j` pays for the rejected call once, not every cycle.
    """
    if machine.memo.get(JSON_MEMO_KEY) is False:
        return None
    try:
        text = machine.run(argv, timeout=timeout)
    except SourceError as exc:
        if not json_unsupported(exc):
            raise
        machine.memo[JSON_MEMO_KEY] = False
        return None
    machine.memo[JSON_MEMO_KEY] = True
    return text


def load_json(text: str, command: str) -> Any:
    """The decoded JSON document a command printed, or SourceError naming what is wrong."""
    if not text.strip():
        raise SourceError(f"{command}: empty output")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{command}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{command}: unreadable JSON ({type(exc).__name__})") from None


def to_int(value: Any, what: str) -> int | None:
    """An exact (42, "42") or human ("62.6G", "1.2K", 1024-based) ZFS number as an int.

    None for null, "-", and text that is no number; SourceError for booleans, lists and objects.
    Human numbers are rounded by ZFS, so their value is approximate.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SourceError(f"{what}: expected a number, got {type(value).__name__}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    match = _HUMAN.fullmatch(value.strip())
    if match is None:
        return None
    number, unit = match.groups()
    if not unit and "." not in number:
        return int(number)
    return int(float(number) * 1024 ** " KMGTPEZ".index(unit.upper() or " "))


def to_percent(value: Any, what: str) -> float | None:
    """A ZFS percentage (27, "27", "27%") as a float; None for null, "-" and non-numbers."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SourceError(f"{what}: expected a percentage, got {type(value).__name__}")
    if isinstance(value, str):
        try:
            value = float(value.strip().removesuffix("%"))
        except ValueError:
            return None
    number = float(value)
    return number if math.isfinite(number) else None


def to_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SourceError(f"{what}: expected a string, got {type(value).__name__}")


def to_epoch(value: Any, what: str) -> int | None:
    """Epoch seconds from an int, a digit string or a C-locale date.

    None when unset (ZFS gives 0) or unreadable.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        epoch = int(text) if text.isdigit() else ctime_to_epoch(text)
    else:
        epoch = to_int(value, what)
    return epoch if epoch is not None and epoch > 0 else None


def rfc3339(epoch: int | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC with Z; None for None and for times no calendar holds."""
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def ctime_to_epoch(text: str) -> int | None:
    """Epoch seconds of a C-locale date in the host's local time zone; None for other text.

    Accepts ctime ("Sun Jan  7 02:35:05 2024") and zfs creation ("Sun Jan 7 02:35 2024").
    """
    match = _CTIME.fullmatch(" ".join(text.split()))
    if match is None or match.group(1) not in _MONTHS:
        return None
    month, day, hour, minute, second, year = match.groups()
    fields = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second or 0))
    try:
        return int(time.mktime((*fields, 0, 0, -1)))
    except (OverflowError, ValueError):
        return None


class VdevTally:
    """Counts a pool's vdevs, each once however often the output repeats it.

    `key` identifies a vdev (its guid, else its name). A vdev is a leaf when it is not interior
    (no children, not a grouping type) and no other vdev names it as parent. A leaf without a
    state (`zpool status -L` omits it) is not counted as degraded.
    """

    def __init__(self) -> None:
        self._vdevs: dict[tuple[str, str], dict[str, Any]] = {}
        self._parents: set[str] = set()

    def add(
        self,
        key: tuple[str, str],
        *,
        name: str,
        state: str | None,
        errors: tuple[int, int, int],
        top: bool,
        interior: bool,
        parent: str | None,
    ) -> None:
        vdev = self._vdevs.setdefault(
            key, {"name": name, "bad": False, "errors": (0, 0, 0), "top": False, "interior": False}
        )
        # Copies of one vdev can disagree (an in-use spare is ONLINE inside spare-N and INUSE
        # in the spares list): any copy in a bad state makes the device bad.
        vdev["bad"] = vdev["bad"] or (state or "").upper() in BAD_STATES
        vdev["errors"] = tuple(map(max, vdev["errors"], errors))
        vdev["top"] = vdev["top"] or top
        vdev["interior"] = vdev["interior"] or interior
        if parent is not None:
            self._parents.add(parent)

    def summary(self) -> dict[str, Any]:
        vdevs = self._vdevs.values()
        leaves = [v for v in vdevs if not v["interior"] and v["name"] not in self._parents]
        return {
            "errors": {
                kind: sum(v["errors"][i] for v in vdevs)
                for i, kind in enumerate(("read", "write", "checksum"))
            },
            "vdevs": sum(1 for v in vdevs if v["top"]),
            "degraded_vdevs": sum(1 for v in leaves if v["bad"]),
        }


def no_scan() -> dict[str, Any]:
    """The scan of a pool never scanned (or scanned in a way the protocol has no name for)."""
    fields = ("function", "state", "start_time", "end_time", "errors", "progress_pct")
    return dict.fromkeys(fields)


# --- zpool list -Hp -------------------------------------------------------------------------


def parse_list_text(text: str) -> dict[str, dict[str, Any]]:
    """Space per pool from the text of
    `zpool list -Hp -o name,size,allocated,free,fragmentation,capacity,health`.

    Tab-separated, exact bytes; fragmentation and capacity are "-" when ZFS does not know them.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SourceError("zpool list: empty output")
    pools = {}
    for number, line in enumerate(lines, 1):
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 7:
            raise SourceError(
                f"zpool list: line {number}: expected 7 tab-separated fields, got {len(fields)}"
            )
        name, size, allocated, free, fragmentation, capacity, health = fields
        what = f"zpool list: pool {name}"
        pools[name] = {
            "size": to_int(size, f"{what}: size"),
            "allocated": to_int(allocated, f"{what}: allocated"),
            "free": to_int(free, f"{what}: free"),
            "fragmentation_pct": to_percent(fragmentation, f"{what}: fragmentation"),
            "capacity_pct": to_percent(capacity, f"{what}: capacity"),
            "health": health,
        }
    return pools


# --- zpool status -p ------------------------------------------------------------------------

_HEADER = re.compile(r" {0,6}([a-z]+):(?: (.*))?")  # "  pool: tank"; continuations are indented
_SECTIONS = frozenset({"logs", "cache", "spares", "special", "dedup"})
_COUNTER = re.compile(r"\d+(?:\.\d+)?[KMGTPE]?")
_VDEV = r"(?: \([^)]*\))?"  # "resilver (draid1:4d:11c:1s-0) ..." for a sequential resilver
_FINISHED = re.compile(
    rf"(scrub repaired|resilvered){_VDEV} \S+ in (.+?) with (\d+) errors? on (.+)"
)
_CANCELED = re.compile(rf"(scrub|resilver){_VDEV} canceled on (.+)")
_RUNNING = re.compile(rf"(scrub|resilver){_VDEV} in progress since (.+)")
_PAUSED = re.compile(r"scrub paused since (.+)")
_STARTED = re.compile(r"scrub started on (.+)")
_DONE = re.compile(r"(\d+(?:\.\d+)?)% done")
_HMS = re.compile(r"(?:(\d+) days? )?(\d+):(\d{2}):(\d{2})")
_HM = re.compile(r"(\d+)h(\d+)m")
_DATA_ERRORS = re.compile(r"(\d+) data errors?\b")


def parse_status_text(text: str) -> dict[str, dict[str, Any]]:
    """Health, errors, vdev counts and scan per pool from `zpool status -p` (any OpenZFS).

    Same counting rules as the JSON parser: `vdevs` counts the top-level rows of every config
    section (data, logs, dedup, special, cache, spares); `degraded_vdevs` counts leaf rows in a
    bad state, each device name once (an in-use spare is listed twice). `data_errors` is null
    when there is no "errors:" line or it gives no count.
    """
    if not text.strip():
        raise SourceError("zpool status: empty output")
    blocks: list[list[str]] = []
    for line in text.splitlines():
        header = _HEADER.fullmatch(line)
        if header and header.group(1) == "pool":
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        elif line.strip():
            raise SourceError(f"zpool status: unexpected text before the first pool: {line[:60]!r}")
    if not blocks:
        raise SourceError("zpool status: no 'pool:' line in the output")
    pools = {}
    for block in blocks:
        summary = _status_block(block)
        pools[summary["name"]] = summary
    return pools


def _status_block(lines: list[str]) -> dict[str, Any]:
    name = lines[0].split(":", 1)[1].strip()
    if not name:
        raise SourceError("zpool status: 'pool:' line without a name")
    fields: dict[str, str] = {}
    scans: list[list[str]] = []
    errors: list[str] = []
    config: list[str] = []
    current = None
    for line in lines[1:]:
        header = _HEADER.fullmatch(line)
        if header:
            current, value = header.group(1), (header.group(2) or "").strip()
            if current in ("scan", "scrub"):  # "scrub:" is the pre-0.6.3 spelling
                scans.append([value])
            elif current == "errors":
                errors.append(value)
            else:
                fields.setdefault(current, value)
        elif current in ("scan", "scrub"):
            scans[-1].append(line.strip())
        elif current == "errors":
            errors.append(line.strip())
        elif current == "config":
            config.append(line)
    if not fields.get("state"):
        raise SourceError(f"zpool status: pool {name}: no 'state:' line")
    scan, last_scrub_end = _scans(scans)
    return {
        "name": name,
        "health": fields["state"],
        **_config(name, config).summary(),
        "data_errors": _data_errors(errors),
        "scan": scan,
        "last_scrub_end": last_scrub_end,
    }


def _config(pool: str, lines: list[str]) -> VdevTally:
    """The config tree: NAME STATE READ WRITE CKSUM [SLOW] rows, indented two spaces per level."""
    rows: list[dict[str, Any]] = []
    base = None
    section = "data"
    for line in lines:
        expanded = line.expandtabs(8)
        tokens = expanded.split()
        if not tokens:
            continue
        indent = len(expanded) - len(expanded.lstrip())
        if base is None:
            base = indent
            if tokens[0] == "NAME":
                continue
        if len(tokens) == 1 and tokens[0] in _SECTIONS and indent <= base:
            section = tokens[0]
            continue
        depth = max(indent - base, 0) // 2
        if depth == 0 and rows:
            depth = 1  # only the pool's own row sits at depth 0; tolerate a misindented row
        counters = []
        for token in tokens[2:5]:
            if not _COUNTER.fullmatch(token):
                break
            counters.append(to_int(token, f"zpool status: pool {pool}: {tokens[0]}") or 0)
        rows.append(
            {
                "name": tokens[0],
                "state": tokens[1] if len(tokens) > 1 else None,
                "errors": tuple(counters) if len(counters) == 3 else (0, 0, 0),
                "depth": depth,
                "section": section,
            }
        )
    tally = VdevTally()
    stack: list[dict[str, Any]] = []
    for row, following in zip(rows, [*rows[1:], None], strict=True):
        while stack and not _holds(stack[-1], row):
            stack.pop()
        has_children = following is not None and _holds(row, following)
        tally.add(
            ("name", row["name"]),
            name=row["name"],
            state=row["state"],
            errors=row["errors"],
            top=row["depth"] == 1,
            interior=row["depth"] == 0 or has_children,
            parent=stack[-1]["name"] if stack else None,
        )
        stack.append(row)
    return tally


def _holds(row: dict[str, Any], later: dict[str, Any]) -> bool:
    """Whether `later` sits below `row` in the tree (rows come in tree order)."""
    return bool(row["section"] == later["section"] and row["depth"] < later["depth"])


def _scans(blocks: list[list[str]]) -> tuple[dict[str, Any], str | None]:
    """The scan to report (one in progress, else the first known one) and the last scrub's end.

    OpenZFS prints a second "scan:" block for a sequential (dRAID) resilver next to the scrub.
    """
    scans = [_scan(block) for block in blocks]
    known = [scan for scan in scans if scan["function"] is not None]
    running = [scan for scan in known if scan["state"] == "scanning"]
    chosen = (running or known or [no_scan()])[0]
    scrub_ends = [
        scan["end_time"]
        for scan in known
        if scan["function"] == "scrub" and scan["state"] == "finished"
    ]
    return chosen, (scrub_ends[0] if scrub_ends else None)


def _scan(block: list[str]) -> dict[str, Any]:
    first, rest = block[0], block[1:]
    scan = no_scan()
    if match := _FINISHED.fullmatch(first):
        end = ctime_to_epoch(match.group(4))
        duration = _duration_s(match.group(2))
        scan.update(
            function="scrub" if match.group(1).startswith("scrub") else "resilver",
            state="finished",
            start_time=rfc3339(end - duration) if end and duration is not None else None,
            end_time=rfc3339(end),
            errors=int(match.group(3)),
        )
    elif match := _CANCELED.fullmatch(first):
        scan.update(
            function=match.group(1),
            state="canceled",
            end_time=rfc3339(ctime_to_epoch(match.group(2))),
        )
    elif match := _RUNNING.fullmatch(first):
        scan.update(function=match.group(1), state="scanning", start_time=_start(match.group(2)))
    elif match := _PAUSED.fullmatch(first):
        # A paused scrub is still an unfinished scan; "scrub started on" follows on the next line.
        started = [found.group(1) for line in rest if (found := _STARTED.fullmatch(line))]
        start = started[0] if started else match.group(1)
        scan.update(function="scrub", state="scanning", start_time=_start(start))
    if scan["state"] == "scanning":
        done = [float(found.group(1)) for line in rest if (found := _DONE.search(line))]
        scan["progress_pct"] = done[0] if done else None
    return scan


def _start(text: str) -> str | None:
    return rfc3339(ctime_to_epoch(text))


def _duration_s(text: str) -> int | None:
    if match := _HMS.fullmatch(text):
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if match := _HM.fullmatch(text):
        return (int(match.group(1)) * 60 + int(match.group(2))) * 60
    return None


def _data_errors(lines: list[str]) -> int | None:
    """The "errors:" line: none, "N data errors, use '-v' for a list", or (with -v) the files."""
    for index, line in enumerate(lines):
        if line.startswith("No known data errors"):
            return 0
        if match := _DATA_ERRORS.match(line):
            return int(match.group(1))
        if line.startswith("Permanent errors have been detected"):
            # One listed file can hold several errors: the count of files is a lower bound.
            return max(sum(1 for entry in lines[index + 1 :] if entry), 1)
    return None
