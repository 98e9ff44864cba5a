"""Samples the server has not acked yet, in seq order, bounded in count and in memory.

Nothing collected while the server is away may be lost (PROTOCOL.md), but the agent shares the
host with the guests it watches, so the buffer has hard limits and drops the oldest samples
first, saying so in the log.

Sizing. The count limit holds 48 h of every tier at the configured intervals: at the default
30/300/1800 s that is 5760 fast + 576 medium + 96 slow = 6432 samples. The memory limit is
64 MiB, which keeps the agent small next to the guests it watches. Samples are kept as their
serialized JSON text, zlib-compressed (level 1, well under a millisecond per sample): the
fake host's fast sample (two pools with their raw `zpool` JSON, 3 guests) is 40 KB of JSON and
4.7 KB compressed, with 300 guests 100 KB and 6.8 KB. 48 h of the latter, medium and slow
included, take about 41 MB compressed against 580 MB as plain text, so 64 MiB holds the 48 h
the protocol asks for on any ordinary host, and bounds the memory on an extraordinary one.
"""

from __future__ import annotations

import bisect
import logging
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger("proxmon.agent")

KEEP_HOURS = 48
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SAMPLES = 6432  # 48 h at 30/300/1800 s, see above
COMPRESS_LEVEL = 1


@dataclass
class _Entry:
    blob: bytes  # zlib-compressed UTF-8 JSON
    chars: int  # length of the JSON text: what goes over the wire
    label: str  # "fast 2026-04-21T12:34:56.000Z", for log lines


class Buffer:
    def __init__(
        self, max_samples: int = DEFAULT_MAX_SAMPLES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_samples < 1 or max_bytes < 1:
            raise ValueError("buffer limits must be positive")
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self._seqs: list[int] = []  # sorted
        self._entries: dict[int, _Entry] = {}
        self._bytes = 0
        self.dropped = 0  # in this process, for tests and the log

    @classmethod
    def for_intervals(
        cls,
        fast_seconds: float,
        medium_seconds: float,
        slow_seconds: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Buffer:
        """Room for KEEP_HOURS of every tier at these intervals (and at most `max_bytes`)."""
        span = KEEP_HOURS * 3600
        count = sum(math.ceil(span / s) for s in (fast_seconds, medium_seconds, slow_seconds))
        return cls(max_samples=count, max_bytes=max_bytes)

    def __len__(self) -> int:
        return len(self._seqs)

    def __contains__(self, seq: int) -> bool:
        return seq in self._entries

    @property
    def nbytes(self) -> int:
        """Memory held by the stored samples (compressed)."""
        return self._bytes

    def add(self, seq: int, text: str, label: str = "") -> int:
        """Keep a serialized sample until it is acked; returns how many old ones were dropped."""
        if seq in self._entries:
            raise ValueError(f"seq {seq} is already buffered")
        entry = _Entry(zlib.compress(text.encode("utf-8"), COMPRESS_LEVEL), len(text), label)
        bisect.insort(self._seqs, seq)
        self._entries[seq] = entry
        self._bytes += len(entry.blob)
        dropped: list[_Entry] = []
        while len(self._seqs) > self.max_samples or self._bytes > self.max_bytes:
            dropped.append(self._remove(self._seqs[0]))
        if dropped:
            self.dropped += len(dropped)
            log.warning(
                "buffer full (%d samples, %.1f MiB held; limits %d samples, %.0f MiB): "
                "dropped the %d oldest unacked sample(s), oldest %s",
                len(self._seqs),
                self._bytes / 2**20,
                self.max_samples,
                self.max_bytes / 2**20,
                len(dropped),
                dropped[0].label or "?",
            )
        return len(dropped)

    def ack(self, seq: int) -> bool:
        """The server stored the sample: forget it. False if it was not held (already dropped)."""
        if seq not in self._entries:
            return False
        self._remove(seq)
        return True

    def nack(self, seq: int, error: str) -> bool:
        """The server refused the sample as invalid: forget it (resending cannot help) and log."""
        if seq not in self._entries:
            return False
        entry = self._remove(seq)
        log.error("server rejected sample seq %d (%s), dropped: %s", seq, entry.label, error)
        return True

    def get(self, seq: int) -> str | None:
        entry = self._entries.get(seq)
        return None if entry is None else zlib.decompress(entry.blob).decode("utf-8")

    def chars(self, seq: int) -> int:
        """The JSON text length of a held sample (0 when not held)."""
        entry = self._entries.get(seq)
        return 0 if entry is None else entry.chars

    def label(self, seq: int) -> str:
        entry = self._entries.get(seq)
        return "" if entry is None else entry.label

    def replace(self, seq: int, text: str) -> None:
        """Swap a held sample's text (a shrunken resend) keeping its place."""
        old = self._entries[seq]
        blob = zlib.compress(text.encode("utf-8"), COMPRESS_LEVEL)
        self._bytes += len(blob) - len(old.blob)
        self._entries[seq] = _Entry(blob, len(text), old.label)

    def next_after(self, seq: int) -> tuple[int, str] | None:
        """The first held sample with a larger seq, or None."""
        index = bisect.bisect_right(self._seqs, seq)
        if index == len(self._seqs):
            return None
        found = self._seqs[index]
        return found, self.get(found) or ""

    def pending(self, after: int = 0) -> Iterator[tuple[int, str]]:
        """`(seq, text)` of every held sample in seq order; safe while acks remove samples."""
        while (item := self.next_after(after)) is not None:
            after = item[0]
            yield item

    def _remove(self, seq: int) -> _Entry:
        entry = self._entries.pop(seq)
        index = bisect.bisect_left(self._seqs, seq)
        del self._seqs[index]
        self._bytes -= len(entry.blob)
        return entry
