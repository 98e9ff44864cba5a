"""Reading sample frames (metrics/decode.py against metrics/protocol.py's types): every nack of
docs/protocol.md with its exact path and words, and the rules looked for in the bytes (nesting,
overflowing numbers, days that do not exist). Valid frames: test_protocol_frames.py. No
database: the socket's side is test_consumer.py, test_sample_limits.py and test_raw_same.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from metrics.decode import (
    Rejected,
    SampleFrame,
    decode_frame,
)
from metrics.scan import unusual
from metrics.tests import frames

TIME_NACK = "collected_at: expected an RFC 3339 UTC time like 2026-04-21T12:34:56Z"


def _at(frame: dict, path: list) -> tuple[Any, Any]:
    *parents, last = path
    target = frame
    for key in parents:
        target = target[key]
    return target, last


def judged(tier: str, path: list, value: Any = "__delete__", text: str | None = None) -> str:
    """The nack text of a frame of `tier` whose `path` is set to `value` (or deleted)."""
    frame = frames.sample(tier, seq=7)
    if path:
        target, last = _at(frame, path)
        if value == "__delete__":
            del target[last]
        else:
            target[last] = value
    decoded = decode_frame(text if text is not None else json.dumps(frame))
    assert isinstance(decoded, Rejected), decoded
    assert decoded.seq == 7
    return decoded.problem


# (tier, path, value, the whole nack text)
NACKS = [
    ("fast", ["tier"], "hourly", "tier: expected one of 'fast', 'medium', 'slow'"),
    ("fast", ["tier"], ["fast"], "tier: expected one of 'fast', 'medium', 'slow'"),
    ("fast", ["collected_at"], "2026-04-21 12:00:00", TIME_NACK),
    ("fast", ["collected_at"], "2026-13-45T99:00:00Z", TIME_NACK),
    ("fast", ["collected_at"], "2026-02-30T12:00:00Z", TIME_NACK),
    ("fast", ["collected_at"], "2026-04-21T12:00:00+02:00", TIME_NACK),
    ("fast", ["collected_at"], "__delete__", TIME_NACK),
    ("fast", ["data"], [], "data: expected an object"),
    ("fast", ["data"], "__delete__", "data: expected an object"),
    ("fast", ["errors"], "boom", "errors: expected an object"),
    ("fast", ["errors"], None, "errors: expected an object"),
    ("fast", ["errors"], {"host": 5}, "errors.host: expected a string"),
    ("fast", ["errors"], {"host": "x" * 1001}, "errors.host: expected at most 1,000 characters"),
    ("fast", ["errors"], {"x" * 256: "y"}, "errors: a source name longer than 255 characters"),
    ("fast", ["data", "host"], [], "data.host: expected an object"),
    ("fast", ["data", "host", "mem", "total"], "64G", "data.host.mem.total: expected an integer"),
    ("fast", ["data", "host", "mem", "total"], 1.5, "data.host.mem.total: expected an integer"),
    ("fast", ["data", "host", "mem", "total"], True, "data.host.mem.total: expected an integer"),
    (
        "fast",
        ["data", "host", "mem", "total"],
        2**64,
        "data.host.mem.total: expected an integer from 0 to 2^63-1",
    ),
    (
        "fast",
        ["data", "host", "mem", "used"],
        -1,
        "data.host.mem.used: expected an integer from 0 to 2^63-1",
    ),
    (
        "fast",
        ["data", "host", "mem", "available"],
        "__delete__",
        "data.host.mem.available: missing",
    ),
    ("fast", ["data", "host", "load"], [1, 2], "data.host.load: expected a list of 3"),
    ("fast", ["data", "host", "load"], "1 2 3", "data.host.load: expected a list"),
    ("fast", ["data", "host", "load"], [1, 2, "x"], "data.host.load[2]: expected a number"),
    ("fast", ["data", "host", "load"], [1, 2, True], "data.host.load[2]: expected a number"),
    ("fast", ["data", "host", "load"], [1, 2, 2**63], "data.host.load[2]: number out of range"),
    (
        "fast",
        ["data", "host", "load"],
        [1, 2, -(2**63)],
        "data.host.load[2]: number out of range",
    ),
    ("fast", ["data", "host", "uptime_s"], 2.0**63, "data.host.uptime_s: number out of range"),
    ("fast", ["data", "host", "uptime_s"], None, "data.host.uptime_s: expected a number"),
    (
        "fast",
        ["data", "host", "cpu_percent"],
        -3,
        "data.host.cpu_percent: expected a percentage of 0 or more",
    ),
    ("fast", ["data", "host", "hostname"], None, "data.host.hostname: expected a string"),
    (
        "fast",
        ["data", "host", "kernel"],
        "k" * 256,
        "data.host.kernel: expected at most 255 characters",
    ),
    ("fast", ["data", "host", "rootfs"], 5, "data.host.rootfs: expected an object"),
    ("fast", ["data", "storage"], {}, "data.storage: expected a list"),
    ("fast", ["data", "storage", 0], 5, "data.storage[0]: expected an object"),
    (
        "fast",
        ["data", "storage", 0, "enabled"],
        1,
        "data.storage[0].enabled: expected true or false",
    ),
    (
        "fast",
        ["data", "storage", 0, "content"],
        "images",
        "data.storage[0].content: expected a list",
    ),
    (
        "fast",
        ["data", "storage", 0, "content"],
        ["x"] * 1001,
        "data.storage[0].content: expected at most 1,000 entries",
    ),
    ("fast", ["data", "storage", 0, "used"], -5, "data.storage[0].used: expected an integer from"),
    ("fast", ["data", "zfs_pools"], [], "data.zfs_pools: expected an object"),
    ("fast", ["data", "zfs_pools", "pools"], "__delete__", "data.zfs_pools.pools: missing"),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "health"],
        0,
        "data.zfs_pools.pools[0].health: expected a string",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "name"],
        "p" * 256,
        "data.zfs_pools.pools[0].name: expected at most 255 characters",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "errors", "checksum"],
        "6",
        "data.zfs_pools.pools[0].errors.checksum: expected an integer",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "data_errors"],
        -1,
        "data.zfs_pools.pools[0].data_errors: expected an integer from 0 to 2^63-1",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "vdevs"],
        None,
        "data.zfs_pools.pools[0].vdevs: expected an integer",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "scan", "function"],
        "SCRUB",
        "data.zfs_pools.pools[0].scan.function: expected one of 'scrub', 'resilver', null",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "scan", "state"],
        "done",
        "data.zfs_pools.pools[0].scan.state: expected one of 'scanning', 'finished', 'canceled',"
        " null",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "scan", "progress_pct"],
        -0.5,
        "data.zfs_pools.pools[0].scan.progress_pct: expected a percentage of 0 or more",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "last_scrub_end"],
        1712880011,
        "data.zfs_pools.pools[0].last_scrub_end: expected an RFC 3339 UTC time like"
        " 2026-04-21T12:34:56Z",
    ),
    (
        "fast",
        ["data", "zfs_pools", "pools", 0, "last_scrub_end"],
        "2026-04-31T00:00:00Z",
        "data.zfs_pools.pools[0].last_scrub_end: expected an RFC 3339",
    ),
    ("fast", ["data", "zfs_pools", "raw"], [1], "data.zfs_pools.raw: expected an object or null"),
    ("fast", ["data", "zfs_pools", "raw"], "x", "data.zfs_pools.raw: expected an object or null"),
    (
        "fast",
        ["data", "zfs_pools", "raw_same"],
        "yes",
        "data.zfs_pools.raw_same: expected true or false",
    ),
    ("fast", ["data", "guests", 0, "vmid"], "100", "data.guests[0].vmid: expected an integer"),
    (
        "fast",
        ["data", "guests", 0, "vmid"],
        1_000_000_000,
        "data.guests[0].vmid: expected an integer from 0 to 999,999,999",
    ),
    (
        "fast",
        ["data", "guests", 1, "type"],
        "vm",
        "data.guests[1].type: expected one of 'qemu', 'lxc'",
    ),
    (
        "medium",
        ["data", "datasets", "datasets", 0, "type"],
        "snapshot",
        "data.datasets.datasets[0].type: expected one of 'filesystem', 'volume'",
    ),
    (
        "medium",
        ["data", "datasets", "datasets", 0, "snapshot_count"],
        None,
        "data.datasets.datasets[0].snapshot_count: expected an integer",
    ),
    ("medium", ["data", "datasets", "raw"], 5, "data.datasets.raw: expected an object or null"),
    (
        "medium",
        ["data", "guest_configs", 0, "ips"],
        "10.0.4.17",
        "data.guest_configs[0].ips: expected a list",
    ),
    (
        "medium",
        ["data", "guest_configs", 0, "tags"],
        ["t"] * 1001,
        "data.guest_configs[0].tags: expected at most 1,000 entries",
    ),
    (
        "medium",
        ["data", "guest_configs", 0, "cores"],
        2**31,
        "data.guest_configs[0].cores: expected an integer from 0 to 2,147,483,647",
    ),
    (
        "medium",
        ["data", "guest_configs", 0, "disks", 0, "size"],
        "32G",
        "data.guest_configs[0].disks[0].size: expected an integer",
    ),
    (
        "medium",
        ["data", "guest_configs", 0, "onboot"],
        "yes",
        "data.guest_configs[0].onboot: expected true or false",
    ),
    (
        "slow",
        ["data", "system", "pending_updates"],
        "12",
        "data.system.pending_updates: expected an integer",
    ),
    ("slow", ["data", "system", "pve_version"], 8, "data.system.pve_version: expected a string"),
]


@pytest.mark.parametrize(("tier", "path", "value", "error"), NACKS, ids=[n[3] for n in NACKS])
def test_every_nack_names_its_path(tier, path, value, error):
    assert judged(tier, path, value).startswith(error)


def test_infinity_anywhere_in_data_is_nacked_with_its_path():
    for where, path in [
        ('"uptime_s": 16072645.2', "data.host.uptime_s"),
        ('"raw": {}', "data.zfs_pools.raw.x"),
    ]:
        text = json.dumps(frames.sample("fast", seq=7))
        replacement = where.split(":")[0] + (": 1e400" if "uptime" in where else ': {"x": 1e400}')
        text = text.replace(where, replacement)
        assert judged("fast", [], text=text) == f"{path}: expected a finite number"


def test_unknown_key_holding_infinity_is_nacked_too():
    text = json.dumps(frames.sample("fast", seq=7)).replace(
        '"storage": [', '"x": [1E+0400], "storage": ['
    )
    assert judged("fast", [], text=text) == "data.x[0]: expected a finite number"


def test_nesting_deeper_than_64_levels_is_nacked_65_is_not():
    def nested(levels: int) -> dict:
        value: dict = {}
        for _ in range(levels):
            value = {"x": value}
        return value

    frame = frames.sample("fast", seq=7)
    frame["data"]["zfs_pools"]["raw"] = nested(100)
    assert "nested deeper than 64 levels" in decode_frame(json.dumps(frame)).problem
    # data is level 1, zfs_pools 2, raw 3: 61 more levels are the last ones allowed
    frame["data"]["zfs_pools"]["raw"] = nested(61)
    assert isinstance(decode_frame(json.dumps(frame)), SampleFrame)
    frame["data"]["zfs_pools"]["raw"] = nested(62)
    assert isinstance(decode_frame(json.dumps(frame)), Rejected)


def test_brackets_and_escaped_quotes_in_strings_do_not_count_as_nesting():
    frame = frames.sample("fast", seq=7)
    frame["data"]["zfs_pools"]["raw"] = {"text": '[[[[{{{{ "\\"" ' * 50, "more": "]]]}}}"}
    body = json.dumps(frame).encode()
    assert not unusual(body)
    decoded = decode_frame(body)
    assert isinstance(decoded, SampleFrame)
    assert json.loads(decoded.raws["zfs_pools"]) == frame["data"]["zfs_pools"]["raw"]


def test_a_date_that_does_not_exist_in_an_optional_time_is_nacked_leap_day_is_not():
    path = ["data", "datasets", "datasets", 0, "newest_snapshot"]
    assert judged("medium", path, "2027-02-29T00:00:00Z").startswith(
        "data.datasets.datasets[0].newest_snapshot: expected an RFC 3339"
    )
    frame = frames.sample("medium", seq=7)
    frame["data"]["datasets"]["datasets"][0]["newest_snapshot"] = "2028-02-29T00:00:00Z"
    assert isinstance(decode_frame(json.dumps(frame)), SampleFrame)


def test_a_huge_integer_where_the_protocol_wants_an_integer_is_judged_exactly():
    path = ["data", "host", "mem", "total"]
    assert (
        judged("fast", path, 2**70) == "data.host.mem.total: expected an integer from 0 to 2^63-1"
    )


def test_a_frame_full_of_exponent_lookalikes_is_judged_exactly_and_accepted():
    frame = frames.sample("fast", seq=7)
    frame["data"]["zfs_pools"]["raw"] = {"ids": ["9e677" * 1000, "1e100"]}
    decoded = decode_frame(json.dumps(frame))
    assert isinstance(decoded, SampleFrame)
