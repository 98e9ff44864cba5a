"""How samples are stored: the agent's frame as sent, compressed against an hourly keyframe of the
same host and tier.

Consecutive samples of one host differ in little more than their numbers (CPU of fifty guests,
pool allocation, counters), and most of a fast sample is raw `zpool` output that rarely changes
at all. Compressed with zstd alone, a day of fast samples from a host with 50 guests and three
pools takes ~14 MB; compressed with the host's own sample from the start of the hour as
dictionary it takes ~2.6 MB (bench: docs/benchmarks.md). Decoding a sample needs only its
keyframe, never a chain of earlier samples.

No Django here: benchmarks and tests decode rows read straight from the database.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import zstandard

LEVEL = 3
# Against a keyframe, level 1 is cheaper than 3 and about as small (bench/payloads.py's 11 fast
# samples against the first: 152 against 233 us where the dictionary is loaded for each sample,
# as it is at thousands of hosts, 20 against 37 us where it is cached, 563 against 722 bytes;
# a simulated day: 2 % more, docs/benchmarks.md "Storage per host and day").
DICTIONARY_LEVEL = 1


def compress(text: bytes, dictionary: bytes | None = None, level: int | None = None) -> bytes:
    """zstd of `text`, against `dictionary` (a keyframe's text) when given; at `level`, or by
    default LEVEL alone and DICTIONARY_LEVEL against a dictionary.

    Compressors are reused per thread (a new one allocates its context), and a keyframe's
    dictionary is precomputed once per level: loading the 58 KB dictionary into a new
    compressor for every sample cost three times the compression itself (0.10 against 0.03 ms;
    docs/benchmarks.md, "Issue 11: the hot path").
    """
    if dictionary is None:
        level = LEVEL if level is None else level
        compressor = _compressors.by_level.get(level)
        if compressor is None:
            compressor = _compressors.by_level[level] = zstandard.ZstdCompressor(level=level)
        return exact(compressor.compress(text))
    level = DICTIONARY_LEVEL if level is None else level
    prepared = _precomputed(dictionary, level)
    return exact(zstandard.ZstdCompressor(level=level, dict_data=prepared).compress(text))


def exact(compressed: bytes) -> bytes:
    """`compressed` in memory of its own size.

    python-zstandard's `ZstdCompressor.compress` allocates its result for the worst case
    (ZSTD_compressBound: a little more than the input) and then only shortens the length it
    reports (`Py_SET_SIZE` in c-ext/compressor.c), so 60 KB compressed to 40 bytes still holds
    60 KB for as long as the result lives. A copy costs a few microseconds; kept results (each
    connection's raws, frames waiting for a decode slot) took ~280 MB at 5,000 agents without
    it (docs/benchmarks.md, "The memory of 5,000 connections")."""
    return bytes(memoryview(compressed))


class _Compressors(threading.local):
    """A thread's own compressors by level, and its decompressor (one is not to be used by
    two threads at once)."""

    def __init__(self) -> None:
        self.by_level: dict[int, zstandard.ZstdCompressor] = {}
        self.decompressor = zstandard.ZstdDecompressor()


_compressors = _Compressors()


# ~0.4 MB of zstd tables each. A keyframe serves one host and tier for an hour, and its
# samples come every 30 s, so the cache hits only while the keyframes in use fit: a few dozen
# hosts (and the saturation benchmark's 20 agents). With more, least-recently-used is a cycle
# that never hits, and a bigger cache only held memory (128: 50 MB at 5,000 hosts, for nothing).
@lru_cache(maxsize=32)
def _precomputed(content: bytes, level: int) -> zstandard.ZstdCompressionDict:
    prepared = zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    prepared.precompute_compress(level=level)
    return prepared


def decompress(body: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        # the thread's own: a new one allocates a 94 KB context (~19 us) for every call, and
        # each sample decompresses its kept raws and its keyframe's text
        return _compressors.decompressor.decompress(body)
    return zstandard.ZstdDecompressor(dict_data=_dictionary(dictionary)).decompress(body)


def decode(body: bytes | memoryview, keyframe: bytes | memoryview | None = None) -> dict[str, Any]:
    """A stored sample's {"data", "errors"}; `keyframe` is the keyframe row's stored bytes.

    Rows hold the whole frame the agent sent (type, seq, tier, collected_at too; rows from
    before issue 11 hold only {"data", "errors"}): the standard library reads it, so integers
    beyond 64 bits in raw output come back exact."""
    dictionary = decompress(bytes(keyframe)) if keyframe is not None else None
    frame = json.loads(decompress(bytes(body), dictionary))
    return {"data": frame["data"], "errors": frame.get("errors") or {}}


@lru_cache(maxsize=256)
def _dictionary(content: bytes) -> zstandard.ZstdCompressionDict:
    # For decompression (compress() precomputes its own): the same keyframe serves every
    # sample of its hour, so its dictionary is built once.
    return zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
