"""The part of a stored fast sample that history keeps, read without the rest.

A fast sample is ~55 KB of JSON, 40 KB of it raw `zpool` output and most of the rest
fields that history does not keep (vdev trees, guest names, I/O counters). The roll-up pass
(metrics/rollups.py) runs in the server process beside ingest, so the time it spends on each
sample is taken from ingest: parsing the whole sample with orjson took 174 us, reading only
these fields with msgspec 47 us (docs/benchmarks.md "History", the ingest ceiling with and
without the pass). msgspec skips the fields a Struct does not declare without building them.

Every declared value is `Any`: what they hold is checked where they are used
(rollups.extract). A sample whose shape does not fit (a `host` that is not an object, say) is
read whole with orjson, as before, so nothing a stored sample holds is lost to this.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson


class _Host(msgspec.Struct):
    cpu_percent: Any = None
    load: Any = None
    mem: Any = None
    rootfs: Any = None


class _Pool(msgspec.Struct):
    name: Any = None
    allocated: Any = None
    size: Any = None
    fragmentation_pct: Any = None
    errors: Any = None
    data_errors: Any = None


class _Pools(msgspec.Struct):
    pools: list[_Pool] | None = None


class _Storage(msgspec.Struct):
    storage: Any = None
    used: Any = None
    total: Any = None


class _Guest(msgspec.Struct):
    vmid: Any = None
    cpu_percent: Any = None
    mem: Any = None


class _Data(msgspec.Struct):
    host: _Host | None = None
    zfs_pools: _Pools | None = None
    storage: list[_Storage] | None = None
    guests: list[_Guest] | None = None


class _Sample(msgspec.Struct):
    data: _Data | None = None


_decoder = msgspec.json.Decoder(_Sample)


def fast_data(text: bytes) -> dict:
    """A stored fast sample's `data` (its JSON text), with only what rollups.extract reads."""
    try:
        sample = msgspec.to_builtins(_decoder.decode(text))
    except msgspec.DecodeError:  # ValidationError too: not the expected shape, read it all
        sample = orjson.loads(text)
    return sample.get("data") or {}
