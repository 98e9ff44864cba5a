"""Protocol v1 sample frames as typed msgspec structs (docs/protocol.md, "Data by tier").

These types are the one statement of what a sample may hold: metrics/decode.py decodes and
validates a frame against them in one pass of msgspec's compiled decoder, and metrics/nacks.py
walks the same types to word a nack (`path: expectation`) exactly as docs/protocol.md says.
`data` decodes to plain dicts (the TypedDicts below); keys the protocol does not know are
left out of them (they stay in the stored frame), and `raw` command output stays unparsed
bytes (`msgspec.Raw`).

To add an optional key to a tier (protocol additions are additive): declare it as
`NotRequired[...]` in the tier's TypedDict; decoder, nack texts and metrics/tests/test_protocol.py
follow. A source that may be absent is `NotRequired`; a value an agent may not know is
`... | None`. A key this server reads but the protocol does not constrain (an implementation's
additive key) is `NotRequired[Any]`: kept in the decoded data, never nacked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NotRequired, TypedDict

import msgspec
from msgspec import Meta

INT64_MAX: Final = 2**63 - 1
# Raw command output may hold unsigned 64-bit ZFS GUIDs; nothing may nest deeper than this.
MAX_DEPTH: Final = 64
# Outside `raw`, names and other text (ZFS names stop at 255 characters too); error reasons.
MAX_TEXT: Final = 255
MAX_REASON: Final = 1000
# Entries of a guest's own lists (tags, IPs, MACs, disks) and of a storage's content types:
# each list goes into one row of the guest index. The frame size bounds the other lists.
MAX_ITEMS: Final = 1000
# The guest index keeps vmid and cores in 32-bit columns; Proxmox's own vmid range ends here.
MAX_VMID: Final = 999_999_999
MAX_CORES: Final = 2**31 - 1
TIERS: Final = ("fast", "medium", "slow")

# RFC 3339 in UTC with `Z`; calendar dates (no February 30) are checked where the time is read
# (metrics/scan.py looks for the days that may not exist before decode.py trusts a frame).
TIME_PATTERN: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z\Z"
)
TIME_EXPECTED: Final = "expected an RFC 3339 UTC time like 2026-04-21T12:34:56Z"

# --- value types ------------------------------------------------------------------------------

Integer = Annotated[int, Meta(ge=0, le=INT64_MAX)]
Vmid = Annotated[int, Meta(ge=0, le=MAX_VMID)]
Cores = Annotated[int, Meta(ge=0, le=MAX_CORES)]
# Integers stay integers; floats from -2^63 to 2^63 exclusive (2^63 itself is out of range).
Number = (
    Annotated[int, Meta(ge=-INT64_MAX, le=INT64_MAX)]
    | Annotated[float, Meta(gt=-(2.0**63), lt=2.0**63)]
)
# A guest may use several cores: its percent of one core can exceed 100.
Percent = Annotated[int, Meta(ge=0, le=INT64_MAX)] | Annotated[float, Meta(ge=0, lt=2.0**63)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Time = Annotated[str, Meta(pattern=TIME_PATTERN)]
Texts = Annotated[list[Text], Meta(max_length=MAX_ITEMS)]
Reason = Annotated[str, Meta(max_length=MAX_REASON)]
SourceName = Annotated[str, Meta(max_length=MAX_TEXT)]


# --- fast -------------------------------------------------------------------------------------


class Mem(TypedDict):
    total: Integer
    used: Integer
    available: Integer


class Rootfs(TypedDict):
    total: Integer
    used: Integer


class HostMetrics(TypedDict):
    hostname: Text
    kernel: Text
    cpu_percent: Percent | None
    load: Annotated[list[Number], Meta(min_length=3, max_length=3)]
    mem: Mem
    uptime_s: Number
    rootfs: Rootfs


class Storage(TypedDict):
    storage: Text
    type: Text
    enabled: bool
    active: bool
    shared: bool
    content: Texts
    used: Integer | None
    total: Integer | None


class PoolErrors(TypedDict):
    read: Integer
    write: Integer
    checksum: Integer


class Scan(TypedDict):
    function: Literal["scrub", "resilver"] | None
    state: Literal["scanning", "finished", "canceled"] | None
    start_time: Time | None
    end_time: Time | None
    errors: Integer | None
    progress_pct: Percent | None


class Pool(TypedDict):
    name: Text
    health: Text
    size: Integer | None
    allocated: Integer | None
    free: Integer | None
    fragmentation_pct: Percent | None
    capacity_pct: Percent | None
    errors: PoolErrors
    data_errors: Integer | None  # null: zpool did not say (text output without "errors:")
    vdevs: Integer
    degraded_vdevs: Integer
    scan: Scan
    last_scrub_end: Time | None


class ZfsPools(TypedDict):
    pools: list[Pool]
    # The command's own JSON, unparsed; absent or null when the agent left it out.
    raw: NotRequired[msgspec.Raw]
    # true: byte-identical to the raw of this tier's previous sample acked on this connection.
    raw_same: NotRequired[bool]


class Guest(TypedDict):
    vmid: Vmid
    type: Literal["qemu", "lxc"]
    name: Text
    status: Text
    uptime_s: Number | None
    cpu_percent: Percent | None
    cpus: Number | None
    mem: Integer | None
    maxmem: Integer | None
    disk_read: Integer | None
    disk_write: Integer | None
    net_in: Integer | None
    net_out: Integer | None
    template: NotRequired[Any]  # additive (this implementation): a template, not a guest


class FastData(TypedDict):
    host: NotRequired[HostMetrics]
    storage: NotRequired[list[Storage]]
    zfs_pools: NotRequired[ZfsPools]
    guests: NotRequired[list[Guest]]
    # second release: where a source's values came from ("pmxcfs" or "pvesh"); not a source
    via: NotRequired[Any]


# --- medium -----------------------------------------------------------------------------------


class Dataset(TypedDict):
    name: Text
    type: Literal["filesystem", "volume"]
    used: Integer | None
    available: Integer | None
    referenced: Integer | None
    usedbysnapshots: Integer | None
    snapshot_count: Integer
    oldest_snapshot: Time | None
    newest_snapshot: Time | None


class Datasets(TypedDict):
    datasets: list[Dataset]
    raw: NotRequired[msgspec.Raw]
    raw_same: NotRequired[bool]


class Disk(TypedDict):
    key: Text
    storage: Text | None
    size: Integer | None


class GuestConfig(TypedDict):
    vmid: Vmid
    type: Literal["qemu", "lxc"]
    name: Text
    cores: Cores | None
    memory: Integer | None
    disks: Annotated[list[Disk], Meta(max_length=MAX_ITEMS)]
    tags: Texts
    onboot: bool
    agent: bool
    ips: Texts
    macs: Texts
    os: Text | None
    ips_source: NotRequired[Any]  # additive: "agent", "namespace", "config" or null


class LastTask(TypedDict):
    end_time: Time
    ok: bool
    error: Reason | None


class BackupJob(TypedDict):
    id: Text
    enabled: bool
    schedule: Text | None
    storage: Text | None
    all: bool
    vmids: Annotated[list[Vmid], Meta(max_length=MAX_ITEMS)]
    exclude: Annotated[list[Vmid], Meta(max_length=MAX_ITEMS)]
    pool: Text | None
    node: NotRequired[Any]  # additive: the nodes the job is limited to


class BackupGuest(TypedDict):
    vmid: Vmid
    covered: bool
    newest: Time | None
    newest_storage: Text | None
    newest_size: Integer | None
    count: Integer
    verified: Literal["ok", "failed"] | None
    last_task: LastTask | None
    # additive: what the guest is (null for a vmid that only has backups here)
    type: NotRequired[Any]
    name: NotRequired[Any]
    template: NotRequired[Any]


class Backups(TypedDict):
    jobs: list[BackupJob]
    guests: list[BackupGuest]
    storage_errors: NotRequired[Any]  # additive: {storage: reason}


class Replication(TypedDict):
    id: Text
    vmid: Vmid
    target: Text
    schedule: Text
    last_sync: Time | None
    last_try: Time | None
    fail_count: Integer
    error: Reason | None
    duration_s: Number | None
    enabled: NotRequired[Any]  # additive: false for a job with `disable`


class MediumData(TypedDict):
    datasets: NotRequired[Datasets]
    guest_configs: NotRequired[list[GuestConfig]]
    backups: NotRequired[Backups]  # second release
    replication: NotRequired[list[Replication]]  # second release


# --- slow -------------------------------------------------------------------------------------


class System(TypedDict):
    pve_version: Text | None
    kernel: Text | None
    zfs_version: Text | None
    pending_updates: Integer | None
    agent_version: Text | None
    # additive: what the drift page and the reboot rule read (metrics/drift.py); absent from
    # older agents. Text like the other versions: a number would stop version_key on every page
    # of that host.
    kernel_newest: NotRequired[Text | None]
    kernel_pinned: NotRequired[Text | None]
    zfs_kmod: NotRequired[Text | None]
    zfs_userland: NotRequired[Text | None]


class SmartDisk(TypedDict):
    device: Text
    model: Text | None
    serial: Text | None
    protocol: Text | None
    standby: bool
    passed: bool | None
    temperature_c: Number | None
    power_on_hours: Integer | None
    reallocated_sectors: Integer | None
    pending_sectors: Integer | None
    uncorrectable_sectors: Integer | None
    percentage_used: Number | None
    media_errors: Integer | None
    critical_warning: Integer | None
    by_id: Texts
    error: NotRequired[Reason | None]  # additive: why smartctl could not read this disk


class SlowData(TypedDict):
    system: NotRequired[System]
    disks: NotRequired[list[SmartDisk]]  # second release


# --- frames -----------------------------------------------------------------------------------

Errors = dict[SourceName, Reason]


class _Sample(msgspec.Struct, tag_field="tier", kw_only=True):
    type: str
    seq: int  # its range is the consumer's: a sample without a usable seq closes, not nacks
    collected_at: Time
    errors: Errors = {}


class FastSample(_Sample, tag="fast"):
    data: FastData


class MediumSample(_Sample, tag="medium"):
    data: MediumData


class SlowSample(_Sample, tag="slow"):
    data: SlowData


DATA_TYPES: Final = {"fast": FastData, "medium": MediumData, "slow": SlowData}
# The sources whose `raw` may be left out or sent as `raw_same` (docs/protocol.md).
RAW_SOURCES: Final = {"fast": ("zfs_pools",), "medium": ("datasets",), "slow": ()}


class Invalid(Exception):
    """A value that breaks the protocol: the nack's text is `path: expected`."""

    def __init__(self, path: str, expected: str) -> None:
        super().__init__(f"{path}: {expected}")


def parse_time(value: Any, path: str) -> datetime:
    """A protocol time (RFC 3339, UTC, `Z`) as an aware datetime; Invalid if it is none."""
    if not isinstance(value, str) or not _TIME.match(value):
        raise Invalid(path, TIME_EXPECTED)
    text = value[:-1]
    if "." in text:  # Python parses at most microseconds
        whole, fraction = text.split(".")
        text = f"{whole}.{fraction[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:  # February 30
        raise Invalid(path, TIME_EXPECTED) from None


_TIME: Final = re.compile(TIME_PATTERN)
