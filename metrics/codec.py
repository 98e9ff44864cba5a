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
from functools import lru_cache
from typing import Any

import zstandard

LEVEL = 3


def compress(text: bytes, dictionary: bytes | None = None, level: int = LEVEL) -> bytes:
    if dictionary is None:
        return zstandard.ZstdCompressor(level=level).compress(text)
    return zstandard.ZstdCompressor(level=level, dict_data=_dictionary(dictionary)).compress(text)


def decompress(body: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        return zstandard.ZstdDecompressor().decompress(body)
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
    # The same keyframe serves every sample of its hour: build its dictionary once. Not
    # precomputed: that saves 0.07 ms per sample but takes 0.44 MB per dictionary instead of
    # 0.07 MB, and with more hosts than the cache holds it is rebuilt for every sample anyway.
    return zstandard.ZstdCompressionDict(content, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
