"""zfs_pools: one test per real fixture in fixtures/zfs (provenance in fixtures/SOURCES.md),
malformed input, and collect() through stand-in `zpool` programs.

Hand-made inputs are named `handmade-*` / `bad-*` and say where they come from where used.
"""

import json
import time
from pathlib import Path

import pytest

from agent.collectors import zfs_pools
from agent.collectors.zfs_text import JSON_MEMO_KEY, parse_list_text, parse_status_text
from agent.machine import Machine, NotApplicable, SourceError

ZFS = Path(__file__).parent / "fixtures" / "zfs"
MARS_FLAT = "zpool-status-flat-int-PL-raidz1x4-special-mirror-removal.json"
MARS_NESTED = "zpool-status-nested-int-PL-raidz1x4-special-mirror-removal.json"
MARS_TEXT = "zpool-status-PLpvs-text-raidz1x4-special-removal.txt"
MARS_LIST = "zpool-list-j-int-v-raidz1x4-special-indirect.json"
# Hand-made: `zpool list -Hp -o name,size,...,health` lines built from the values in MARS_LIST.
MARS_LIST_TEXT = "handmade-zpool-list-Hp-mars-from-json.txt"
SPARE_INUSE = "zpool-status-flat-int-degraded-mirror-spare-inuse-log-cache.json"
SPARE_AVAIL = "zpool-status-flat-int-mirror-spare-avail-log-cache-never-scanned.json"
ERRLIST = "zpool-status-flat-int-errlist-checksum-errors.json"
EMPTY_LIST = '{"output_version": {"command": "zpool list"}, "pools": {}}'
NO_ERRORS = {"read": 0, "write": 0, "checksum": 0}


def read(name: str) -> str:
    return (ZFS / name).read_text()


def status_doc(name: str) -> dict:
    return json.loads(read(name))


def pools_by_name(data: dict) -> dict:
    return {pool["name"]: pool for pool in data["pools"]}


@pytest.fixture
def host_tz(monkeypatch):
    """Text dates are host-local time; the mars fixtures were captured in Europe/London."""

    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


# --- real fixtures ---------------------------------------------------------------------------


def test_raidz_pool_with_special_mirror_and_pool_after_removal_are_online_with_finished_scrubs():
    data = zfs_pools.parse_json(read(MARS_FLAT), read(MARS_LIST))
    assert [pool["name"] for pool in data["pools"]] == ["tank", "zeta"]
    tank, zeta = data["pools"]
    assert tank == {
        "name": "tank",
        "health": "ONLINE",
        "size": 174457276596224,
        "allocated": 110645022535680,
        "free": 63812254060544,
        "fragmentation_pct": 9.0,
        "capacity_pct": 63.0,
        "errors": NO_ERRORS,
        "data_errors": 0,
        "vdevs": 5,  # raidz1-0..3 and the special mirror-4
        "degraded_vdevs": 0,  # -L leaves carry no state: not degraded, no crash
        "scan": {
            "function": "scrub",
            "state": "finished",
            "start_time": "2026-09-12T23:24:01Z",
            "end_time": "2026-09-13T18:47:37Z",
            "errors": 0,
            "progress_pct": None,
        },
        "last_scrub_end": "2026-09-13T18:47:37Z",
    }
    assert (zeta["size"], zeta["allocated"], zeta["free"]) == (
        1992864825344,
        400707649536,
        1592157175808,
    )
    assert (zeta["fragmentation_pct"], zeta["capacity_pct"]) == (34.0, 20.0)
    assert (zeta["vdevs"], zeta["degraded_vdevs"], zeta["health"]) == (1, 0, "ONLINE")
    assert zeta["last_scrub_end"] == "2026-09-12T23:38:30Z"
    assert data["raw"] == {"status": status_doc(MARS_FLAT), "list": status_doc(MARS_LIST)}


def test_nested_layout_without_flat_vdevs_summarises_like_the_flat_layout():
    nested = zfs_pools.parse_status_json(read(MARS_NESTED))
    assert nested == zfs_pools.parse_status_json(read(MARS_FLAT))
    assert nested["tank"]["vdevs"] == 5


def test_text_twin_of_the_raidz_host_summarises_like_json_in_the_hosts_time_zone(host_tz):
    host_tz("Europe/London")  # "Sun Sep 13 19:47:37 2026" is BST, 18:47:37Z
    text = zfs_pools.parse_text(read(MARS_TEXT), read(MARS_LIST_TEXT))
    assert text["pools"] == zfs_pools.parse_json(read(MARS_FLAT), read(MARS_LIST))["pools"]
    assert text["raw"] == {"status_text": read(MARS_TEXT), "list_text": read(MARS_LIST_TEXT)}


def test_degraded_mirror_with_inuse_spare_is_degraded_with_one_offline_leaf():
    (pool,) = zfs_pools.parse_json(read(SPARE_INUSE), EMPTY_LIST)["pools"]
    assert pool["health"] == "DEGRADED"
    assert pool["degraded_vdevs"] == 1  # tspare-a.img OFFLINE; the INUSE spare is healthy
    assert pool["vdevs"] == 4  # mirror-0, log, cache, spare: each once despite the repeats
    assert pool["errors"] == NO_ERRORS
    assert pool["data_errors"] == 0
    assert pool["scan"] == {
        "function": "resilver",
        "state": "finished",
        "start_time": "2026-10-02T21:45:49Z",
        "end_time": "2026-10-02T21:45:49Z",
        "errors": 0,
        "progress_pct": None,
    }
    assert pool["last_scrub_end"] is None  # a resilver hides the last scrub
    assert pool["size"] is None  # not in this zpool list


def test_never_scanned_mirror_with_avail_spare_log_and_cache_has_null_scan():
    pool = zfs_pools.parse_status_json(read(SPARE_AVAIL))["tspare"]
    assert (pool["health"], pool["vdevs"], pool["degraded_vdevs"]) == ("ONLINE", 4, 0)
    assert pool["scan"] == {
        "function": None,
        "state": None,
        "start_time": None,
        "end_time": None,
        "errors": None,
        "progress_pct": None,
    }
    assert pool["last_scrub_end"] is None


def test_checksum_errors_and_a_permanent_data_error_show_on_an_online_pool():
    pool = zfs_pools.parse_status_json(read(ERRLIST))["tfault"]
    assert pool["health"] == "ONLINE"
    assert pool["errors"] == {"read": 0, "write": 0, "checksum": 6}
    assert pool["data_errors"] == 1
    assert (pool["vdevs"], pool["degraded_vdevs"]) == (1, 0)
    assert pool["scan"]["function"] == "scrub"
    assert pool["scan"]["errors"] == 1
    assert pool["last_scrub_end"] == "2026-10-02T21:38:35Z"


def test_unprivileged_errlist_permission_denied_still_counts_data_errors():
    name = "zpool-status-flat-int-errlist-permission-denied-unprivileged.json"
    assert status_doc(name)["pools"]["tfault"]["errlist"] == "Permission denied"
    pool = zfs_pools.parse_status_json(read(name))["tfault"]
    assert (pool["data_errors"], pool["errors"]["checksum"]) == (1, 6)


def test_single_disk_usb_pool_with_upgrade_nag_and_finished_scrub():
    pool = zfs_pools.parse_status_json(read("zpool-status-flat-int-single-disk-usb-ssd.json"))["b6"]
    assert (pool["health"], pool["vdevs"], pool["degraded_vdevs"]) == ("ONLINE", 1, 0)
    assert pool["errors"] == NO_ERRORS
    assert pool["scan"]["start_time"] == "2026-09-12T23:24:01Z"
    assert pool["scan"]["end_time"] == "2026-09-12T23:43:20Z"
    assert pool["last_scrub_end"] == "2026-09-12T23:43:20Z"


def test_manpage_string_numbers_are_read_as_human_sizes_and_percents():
    status = read("zpool-status-j-c-manpage-example.json")
    (pool,) = zfs_pools.parse_json(status, read("zpool-list-j-manpage-example.json"))["pools"]
    assert pool["size"] == 111 * 1024**3
    assert pool["allocated"] == int(30.8 * 1024**3)
    assert pool["free"] == int(80.2 * 1024**3)
    assert (pool["fragmentation_pct"], pool["capacity_pct"]) == (0.0, 27.0)
    assert pool["data_errors"] == 0  # "0" as a string
    assert pool["vdevs"] == 3  # raidz1-0, dedup mirror-2, special disk
    assert pool["degraded_vdevs"] == 0
    assert pool["scan"]["function"] is None


def test_draid_sequential_resilver_in_progress_reports_progress_and_one_unavail_leaf(host_tz):
    host_tz("UTC")
    name = "zpool-status-text-draid-sequential-resilver-in-progress-docs.txt"
    pool = parse_status_text(read(name))["tank"]
    assert pool["health"] == "DEGRADED"
    assert pool["degraded_vdevs"] == 1  # sdg UNAVAIL; draid1-0-0 INUSE/ONLINE is healthy
    assert pool["vdevs"] == 2  # the draid vdev and the distributed spare
    assert pool["scan"] == {
        "function": "resilver",
        "state": "scanning",
        "start_time": "2020-11-24T14:34:25Z",
        "end_time": None,
        "errors": None,
        "progress_pct": 57.17,
    }
    assert pool["last_scrub_end"] is None
    assert pool["data_errors"] is None  # the doc excerpt has no "errors:" line


def test_draid_healing_resilver_with_replacing_and_misindented_spare_line(host_tz):
    host_tz("UTC")
    pool = parse_status_text(read("zpool-status-text-draid-healing-resilver-replacing-docs.txt"))[
        "tank"
    ]
    assert (pool["health"], pool["vdevs"], pool["degraded_vdevs"]) == ("DEGRADED", 2, 1)
    assert pool["scan"]["state"] == "scanning"
    assert pool["scan"]["start_time"] == "2020-11-24T14:45:16Z"
    assert pool["scan"]["progress_pct"] == 99.44


def test_old_format_faulted_mirror_leaf_is_one_degraded_vdev():
    pool = parse_status_text(read("zpool-status-x-text-degraded-faulted-cannot-open-docs.txt"))[
        "test"
    ]
    assert (pool["health"], pool["vdevs"], pool["degraded_vdevs"]) == ("DEGRADED", 1, 1)
    assert pool["data_errors"] == 0
    assert pool["scan"]["function"] is None  # " scrub: none requested"


def test_old_format_permanent_errors_are_data_errors_and_checksums_sum_over_vdevs():
    pool = parse_status_text(read("zpool-status-xv-text-permanent-errors-docs.txt"))["test"]
    assert pool["health"] == "ONLINE"
    assert pool["data_errors"] == 1  # one file listed
    assert pool["errors"] == {"read": 0, "write": 0, "checksum": 4}  # pool row 2 + sda 2
    assert (pool["vdevs"], pool["degraded_vdevs"]) == (2, 0)


# --- rules on variations of the real fixtures --------------------------------------------------


def test_guids_beyond_int64_stay_exact_integers_in_raw():
    raw = zfs_pools.parse_json(read(SPARE_INUSE), EMPTY_LIST)["raw"]["status"]
    guid = raw["pools"]["tspare"]["vdevs"]["spare-0"]["guid"]
    assert guid == 14459204147885815961 and type(guid) is int
    assert json.loads(json.dumps(raw)) == raw


def test_scrub_in_progress_reports_issued_share_of_to_examine_and_no_end():
    doc = status_doc(ERRLIST)  # the real pool, its scan turned into a running one
    stats = doc["pools"]["tfault"]["scan_stats"]
    stats.update(state="SCANNING", to_examine=4000, issued=1000, examined=3000)
    pool = zfs_pools.parse_status_json(json.dumps(doc))["tfault"]
    assert pool["scan"]["state"] == "scanning"
    assert pool["scan"]["progress_pct"] == 25.0
    assert pool["scan"]["end_time"] is None
    assert pool["last_scrub_end"] is None  # the previous scrub is not in the status


def test_canceled_scrub_and_error_scrub_give_no_last_scrub_end():
    doc = status_doc(ERRLIST)
    doc["pools"]["tfault"]["scan_stats"]["state"] = "CANCELED"
    pool = zfs_pools.parse_status_json(json.dumps(doc))["tfault"]
    assert (pool["scan"]["function"], pool["scan"]["state"]) == ("scrub", "canceled")
    assert pool["last_scrub_end"] is None
    doc["pools"]["tfault"]["scan_stats"].update(function="ERRORSCRUB", state="FINISHED")
    pool = zfs_pools.parse_status_json(json.dumps(doc))["tfault"]
    assert pool["scan"]["function"] is None and pool["last_scrub_end"] is None


def test_a_faulted_leaf_counts_while_stateless_leaves_do_not():
    doc = status_doc(MARS_FLAT)
    doc["pools"]["tank"]["vdevs"]["/dev/sda1"]["state"] = "FAULTED"
    doc["pools"]["tank"]["vdevs"]["/dev/sda1"]["read_errors"] = 3
    doc["pools"]["tank"]["state"] = "DEGRADED"
    tank = zfs_pools.parse_status_json(json.dumps(doc))["tank"]
    # The flat copy says FAULTED, the copies nested in raidz1-0 and the root do not: still one.
    assert (tank["health"], tank["degraded_vdevs"], tank["errors"]["read"]) == ("DEGRADED", 1, 3)


def test_no_pools_document_gives_an_empty_list():
    data = zfs_pools.parse_json('{"output_version": {}}', '{"output_version": {}, "pools": {}}')
    assert data["pools"] == []


# Hand-made scan and errors lines, written from the printf formats of OpenZFS 2.1
# cmd/zpool/zpool_main.c (print_scan_scrub_resilver_status, status_callback).
TEXT_POOL = """\
  pool: rpool
 state: ONLINE
  scan: {scan}
config:

\tNAME        STATE     READ WRITE CKSUM
\trpool       ONLINE       0     0     0
\t  mirror-0  ONLINE       0     0     0
\t    sda3    ONLINE    1.2K     0     0
\t    sdb3    ONLINE       0     0     0

errors: 3 data errors, use '-v' for a list
"""


@pytest.mark.parametrize(
    ("scan", "expected"),
    [
        (
            "scrub repaired 0B in 1 days 02:03:04 with 2 errors on Sun Jan  7 02:35:05 2024",
            {"function": "scrub", "state": "finished", "start_time": "2024-01-06T00:32:01Z",
             "end_time": "2024-01-07T02:35:05Z", "errors": 2, "progress_pct": None},
        ),
        (
            "scrub in progress since Sun Jan  7 02:35:05 2024\n"
            "\t1.50T scanned at 1.2G/s, 900G issued at 700M/s, 3.00T total\n"
            "\t0B repaired, 29.30% done, 01:02:03 to go",
            {"function": "scrub", "state": "scanning", "start_time": "2024-01-07T02:35:05Z",
             "end_time": None, "errors": None, "progress_pct": 29.3},
        ),
        (
            "scrub paused since Mon Jan  8 10:00:00 2024\n"
            "\tscrub started on Sun Jan  7 02:35:05 2024\n"
            "\t1.50T scanned, 900G issued, 3.00T total\n"
            "\t0B repaired, 29.30% done",
            {"function": "scrub", "state": "scanning", "start_time": "2024-01-07T02:35:05Z",
             "end_time": None, "errors": None, "progress_pct": 29.3},
        ),
        (
            "scrub canceled on Sun Jan  7 02:35:05 2024",
            {"function": "scrub", "state": "canceled", "start_time": None,
             "end_time": "2024-01-07T02:35:05Z", "errors": None, "progress_pct": None},
        ),
    ],
)  # fmt: skip
def test_text_scan_lines_give_function_state_times_and_progress(host_tz, scan, expected):
    host_tz("UTC")
    pool = parse_status_text(TEXT_POOL.format(scan=scan))["rpool"]
    assert pool["scan"] == expected
    finished_scrub = expected["state"] == "finished"
    assert pool["last_scrub_end"] == (expected["end_time"] if finished_scrub else None)
    assert pool["data_errors"] == 3
    assert pool["errors"]["read"] == 1228  # "1.2K" without -p, 1024-based and approximate


def test_text_dates_are_host_local_time(host_tz):
    host_tz("Europe/Berlin")
    scan = "scrub canceled on Sun Jan  7 02:35:05 2024"
    pool = parse_status_text(TEXT_POOL.format(scan=scan))["rpool"]
    assert pool["scan"]["end_time"] == "2024-01-07T01:35:05Z"


def test_text_list_with_unknown_fragmentation_gives_null():
    # Hand-made: a FAULTED pool as `zpool list -Hp` prints it (all space unknown).
    pools = parse_list_text("tank\t-\t-\t-\t-\t-\tFAULTED\n")
    assert pools["tank"]["fragmentation_pct"] is None and pools["tank"]["size"] is None


# --- malformed input -------------------------------------------------------------------------


def deeply_nested() -> str:
    vdev: dict = {"name": "leaf"}
    for level in range(200):
        vdev = {"name": f"v{level}", "vdevs": {"x": vdev}}
    return json.dumps({"pools": {"t": {"name": "t", "state": "ONLINE", "vdevs": {"t": vdev}}}})


def with_vdev_field(field: str, value: object) -> str:
    doc = status_doc(ERRLIST)
    doc["pools"]["tfault"]["vdevs"]["/var/tmp/tfault.img"][field] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n",
        read("bad-truncated.json"),  # hand-made: the first 3000 bytes of SPARE_INUSE
        "zpool: not json at all",
        "[]",
        '{"pools": []}',
        '{"pools": {"t": "ONLINE"}}',
        '{"pools": {"t": {"name": "t"}}}',
        '{"pools": {"t": {"name": "t", "state": 3}}}',
        '{"pools": {"t": {"name": "t", "state": "ONLINE", "vdevs": ["t"]}}}',
        '{"pools": {"t": {"name": "t", "state": "ONLINE", "vdevs": {"t": 1}}}}',
        '{"pools": {"t": {"name": "t", "state": "ONLINE", "scan_stats": []}}}',
        '{"pools": {"t": {"name": "t", "state": "ONLINE", "error_count": {}}}}',
        with_vdev_field("checksum_errors", [6]),
        with_vdev_field("read_errors", True),
        with_vdev_field("guid", [1]),
        with_vdev_field("vdevs", "none"),
        with_vdev_field("vdevs", []),
        deeply_nested(),
        "[" * 100000,
    ],
)
def test_malformed_status_json_is_a_source_error(text):
    with pytest.raises(SourceError):
        zfs_pools.parse_json(text, EMPTY_LIST)


@pytest.mark.parametrize(
    "text",
    ["", "{", "{}", '{"pools": {"t": {"name": "t"}}}', '{"pools": {"t": {"properties": []}}}'],
)
def test_malformed_list_json_is_a_source_error(text):
    with pytest.raises(SourceError):
        zfs_pools.parse_json(read(ERRLIST), text)


def test_unreadable_string_numbers_become_null_not_errors():
    doc = status_doc(MARS_LIST)
    doc["pools"]["tank"]["properties"]["size"]["value"] = "lots"
    doc["pools"]["tank"]["properties"]["capacity"]["value"] = "n/a"
    space = zfs_pools.parse_list_json(json.dumps(doc))["tank"]
    assert (space["size"], space["capacity_pct"]) == (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage\n",
        "  pool: tank\nconfig:\n",  # no state
        "  pool:\n state: ONLINE\n",  # no name
        "no pools available\n  pool: tank\n state: ONLINE\n",
    ],
)
def test_malformed_status_text_is_a_source_error(text):
    with pytest.raises(SourceError):
        parse_status_text(text)


@pytest.mark.parametrize("text", ["", "\n", "tank 1 2 3 4 5 ONLINE\n", "tank\t1\t2\n"])
def test_malformed_list_text_is_a_source_error(text):
    with pytest.raises(SourceError):
        parse_list_text(text)


# --- collect() through stand-in zpool programs -------------------------------------------------


def fake_host(tmp_path: Path, zpool_body: str | None) -> Machine:
    """A host whose `zpool` stand-in logs its arguments to calls.log and runs `zpool_body`
    (none: no zpool installed). The stand-ins use absolute paths: PATH is only this folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if zpool_body is not None:
        zpool = bin_dir / "zpool"
        zpool.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls.log"}\n{zpool_body}\n')
        zpool.chmod(0o755)
    return Machine(root=tmp_path, path=str(bin_dir))


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


JSON_ZPOOL = f"""
case "$1" in
  status) exec /bin/cat {ZFS / MARS_FLAT} ;;
  list) exec /bin/cat {ZFS / MARS_LIST} ;;
esac
exit 2
"""

# zpool 2.1/2.2 as getopt rejects -j: message and usage on stderr, exit status 2.
TEXT_ZPOOL = f"""
case "$2" in -j) echo "invalid option 'j'" >&2; echo "usage:" >&2; exit 2 ;; esac
case "$1" in
  status) exec /bin/cat {ZFS / MARS_TEXT} ;;
  list) exec /bin/cat {ZFS / MARS_LIST_TEXT} ;;
esac
exit 2
"""


def test_collect_runs_two_json_commands_per_cycle(tmp_path):
    machine = fake_host(tmp_path, JSON_ZPOOL)
    data = zfs_pools.collect(machine)
    assert machine.spawned == 2
    assert calls(tmp_path) == ["status -j --json-flat-vdevs --json-int", "list -j --json-int"]
    assert data == zfs_pools.parse_json(read(MARS_FLAT), read(MARS_LIST))
    assert machine.memo[JSON_MEMO_KEY] is True
    zfs_pools.collect(machine)
    assert machine.spawned == 4


def test_collect_falls_back_to_text_once_zpool_rejects_json(tmp_path, host_tz):
    host_tz("Europe/London")
    machine = fake_host(tmp_path, TEXT_ZPOOL)
    first = zfs_pools.collect(machine)
    assert machine.spawned == 3  # the rejected -j once, then the two text commands
    assert machine.memo[JSON_MEMO_KEY] is False
    second = zfs_pools.collect(machine)
    assert machine.spawned == 5
    assert calls(tmp_path) == [
        "status -j --json-flat-vdevs --json-int",
        "status -p",
        "list -Hp -o name,size,allocated,free,fragmentation,capacity,health",
        "status -p",
        "list -Hp -o name,size,allocated,free,fragmentation,capacity,health",
    ]
    assert first == second
    assert first["pools"] == zfs_pools.parse_json(read(MARS_FLAT), read(MARS_LIST))["pools"]
    assert first["raw"] == {"status_text": read(MARS_TEXT), "list_text": read(MARS_LIST_TEXT)}


def test_collect_hanging_zpool_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path, "exec /bin/sleep 30")
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out"):
        zfs_pools.collect(machine, timeout=0.3)
    assert time.monotonic() - started < 5
    assert machine.memo.get(JSON_MEMO_KEY) is not False  # a hang says nothing about -j


def test_collect_garbage_output_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path, "echo 'internal error: out of memory'")
    with pytest.raises(SourceError, match="zpool status: invalid JSON"):
        zfs_pools.collect(machine)


def test_collect_failing_zpool_is_a_source_error_and_keeps_trying_json(tmp_path):
    body = "echo \"cannot open 'tank': pool I/O is currently suspended\" >&2; exit 1"
    machine = fake_host(tmp_path, body)
    with pytest.raises(SourceError, match="pool I/O is currently suspended"):
        zfs_pools.collect(machine)
    assert machine.spawned == 1
    assert JSON_MEMO_KEY not in machine.memo


def test_collect_without_zpool_is_not_applicable(tmp_path):
    machine = fake_host(tmp_path, None)
    with pytest.raises(NotApplicable):
        zfs_pools.collect(machine)
    assert machine.spawned == 0


def test_collect_on_a_host_without_pools_gives_an_empty_list(tmp_path):
    machine = fake_host(tmp_path, 'echo "no pools available" >&2')
    assert zfs_pools.collect(machine)["pools"] == []
    assert machine.spawned == 2


def test_collect_result_is_json_serialisable_with_exact_guids(tmp_path):
    machine = fake_host(tmp_path, JSON_ZPOOL.replace(MARS_FLAT, SPARE_INUSE))
    sent = json.loads(json.dumps(zfs_pools.collect(machine)))
    assert sent["raw"]["status"]["pools"]["tspare"]["pool_guid"] == 6044964816500147212
    assert sent["raw"]["status"]["pools"]["tspare"]["vdevs"]["mirror-0"]["guid"] == (
        17445186624861697614
    )
