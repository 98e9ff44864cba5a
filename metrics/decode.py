"""Reading agent frames: one pass of msgspec for a valid sample, the standard library otherwise.

`decode_frame(text)` returns a `SampleFrame` (a valid sample, ready to store), a `Rejected`
sample (the nack's text), or, for every other frame (join, strays), the frame as a dict; it
raises FrameError for what is not a JSON object with a string `type` (close 4400).

A sample is decoded by msgspec against the types of metrics/protocol.py, which checks every
documented key's type, range and length as it builds the result; `raw` stays the frame's own
bytes. Three rules msgspec has no word for are looked for in the bytes (metrics/scan.py):
nesting deeper than 64 levels, numbers that overflow to infinity (or that the standard library
would refuse), and calendar days that do not exist. A frame msgspec refuses, or one with anything
unusual, is read again by the standard library and judged by metrics/nacks.py, which words
the nack exactly as docs/protocol.md does, or finds that the unusual thing is allowed (a big
integer in raw output, a time on February 29 of a leap year).

What is stored is the frame's own bytes (compressed by metrics/ingest.py): nothing is
encoded again, and a stored sample decodes to exactly what the agent sent. `resolve` fills a
`raw_same` with the raw of the connection's previous acked sample of the tier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

import msgspec

from metrics import codec
from metrics.nacks import explain
from metrics.protocol import (
    RAW_SOURCES,
    FastSample,
    Invalid,
    MediumSample,
    SlowSample,
    parse_time,
)
from metrics.scan import depth, unusual


class FrameError(Exception):
    """The frame is not a JSON object with a string `type`: close with 4400."""


@dataclass(slots=True)
class SampleFrame:
    """A valid sample: what metrics/ingest.py stores."""

    seq: Any  # the consumer checks its range (a sample without a usable seq closes)
    tier: str
    collected_at: datetime
    data: dict[str, Any]  # documented keys only, without `raw`
    errors: dict[str, str]
    text: bytes  # what is stored: the frame as the agent sent it (a raw_same resolved)
    raws: dict[str, bytes] = field(default_factory=dict)  # source -> its raw JSON, when sent
    same: tuple[str, ...] = ()  # sources that said `raw_same` instead of sending raw
    unchanged: tuple[str, ...] = ()  # sources whose raw is the connection's kept one (KeptRaw)


@dataclass(slots=True)
class Rejected:
    """A sample that is not valid: nacked with `problem`."""

    seq: Any
    problem: str


_DECODER: Final = msgspec.json.Decoder(FastSample | MediumSample | SlowSample)
_TIERS: Final = {FastSample: "fast", MediumSample: "medium", SlowSample: "slow"}


def decode_frame(
    text: str | bytes, kept: Mapping[str, Mapping[str, KeptRaw]] | None = None
) -> SampleFrame | Rejected | dict[str, Any]:
    """The frame read (module docstring). `kept`: tier -> source -> the raw output this
    connection last accepted (the consumer's); a raw byte-identical to it is not scanned
    again for what msgspec does not check (`unusual`), and is named in `unchanged`."""
    body = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        sample = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return _exactly(body)  # not a sample, or an invalid one: the standard library says why
    if sample.type != "sample":
        return _exactly(body)
    tier = _TIERS[type(sample)]
    data: dict[str, Any] = sample.data
    raws = {}
    for source in RAW_SOURCES[tier]:
        part = data.get(source)
        if part is None:
            continue
        raw = part.pop("raw", None)
        if raw is not None:
            chunk = bytes(raw)
            if chunk[:1] == b"{":
                raws[source] = chunk
            elif chunk != b"null":
                return _exactly(body)  # not an object: metrics/nacks.py words it
    unchanged: tuple[str, ...] = ()
    scanned = body
    if kept and raws:
        unchanged, scanned = _without_kept(body, raws, kept.get(tier) or {})
    if unusual(scanned):
        return _exactly(body)
    collected_at = parse_time(sample.collected_at, "collected_at")
    return SampleFrame(
        sample.seq,
        tier,
        collected_at,
        data,
        sample.errors,
        body,
        raws,
        _same(data, tier, raws),
        unchanged,
    )


@dataclass(slots=True)
class KeptRaw:
    """A raw output a connection accepted, kept compressed (5,000 connections holding 45 KB
    of zpool output each would take 225 MB): what a `raw_same` stands for, and what an
    identical raw need not be scanned for again."""

    packed: bytes
    size: int
    depth: int | None = None  # its own nesting, measured once it came again

    @classmethod
    def of(cls, raw: bytes) -> KeptRaw:
        return cls(codec.compress(raw, level=1), len(raw))

    def raw(self) -> bytes:
        return codec.decompress(self.packed)


def _without_kept(
    body: bytes, raws: dict[str, bytes], kept: Mapping[str, KeptRaw]
) -> tuple[tuple[str, ...], bytes]:
    """The sources whose raw is byte-identical to the kept one, and the bytes `unusual` has
    to scan: the frame with each such raw replaced by brackets nested as deep as it is.

    The raw was valid where it stood (it was accepted, perhaps after the exact check), and
    whether its numbers overflow or its days exist does not depend on where it stands; only
    its nesting adds to what surrounds it, and the brackets keep that. So the replaced frame
    is unusual exactly when the frame is. The copy replaced is the first that follows a key
    `raw` (compact, or with one space): its quotes are outside any string, so it is a whole
    value there, the raw itself or an identical copy that the same reasoning covers."""
    unchanged = []
    for source, chunk in raws.items():
        known = kept.get(source)
        if known is None or known.size != len(chunk) or known.raw() != chunk:
            continue
        unchanged.append(source)
        if known.depth is None:
            known.depth = depth(chunk)
        for key in (b'"raw":', b'"raw": '):
            start = _find_value(body, key, chunk)
            if start >= 0:
                end = start + len(chunk)
                body = b"".join((body[:start], _nest(known.depth), body[end:]))
                break
    return tuple(unchanged), body


def _find_value(body: bytes, key: bytes, chunk: bytes) -> int:
    """Where `chunk` first stands right after `key` in `body`; -1 if nowhere."""
    needle = key + chunk[:64]
    at = body.find(needle)
    while at >= 0 and not body.startswith(chunk, at + len(key)):
        at = body.find(needle, at + 1)
    return at + len(key) if at >= 0 else -1


def _nest(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _same(data: dict[str, Any], tier: str, raws: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        source
        for source in RAW_SOURCES[tier]
        if source not in raws and (data.get(source) or {}).get("raw_same") is True
    )


def _exactly(body: bytes) -> SampleFrame | Rejected | dict[str, Any]:
    """The frame as the standard library reads it, judged by metrics/nacks.py."""
    frame = parse_json(body)
    if frame["type"] != "sample":
        return frame
    problem = explain(frame)
    if problem is not None:
        return Rejected(frame.get("seq"), problem)
    return _sample_of(frame, body)


def _sample_of(frame: dict[str, Any], body: bytes) -> SampleFrame:
    tier, data = frame["tier"], frame["data"]
    raws = {}
    for source in RAW_SOURCES[tier]:
        part = data.get(source)
        raw = part.pop("raw", None) if isinstance(part, dict) else None
        if raw is not None:
            raws[source] = json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()
    collected_at = parse_time(frame["collected_at"], "collected_at")
    errors = frame.get("errors") or {}
    return SampleFrame(
        frame.get("seq"), tier, collected_at, data, errors, body, raws, _same(data, tier, raws)
    )


def parse_json(text: str | bytes) -> dict[str, Any]:
    """The frame as a dict; FrameError if it is not a JSON object with a string `type`."""
    try:
        frame = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise FrameError("JSON nested too deeply") from None
    except ValueError as exc:
        raise FrameError(f"not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(frame, dict):
        raise FrameError("a frame must be a JSON object")
    if not isinstance(frame.get("type"), str):
        raise FrameError("a frame needs a string 'type'")
    return frame


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def sample_frame(frame: dict[str, Any]) -> SampleFrame:
    """A sample given as a dict (tests, benchmarks, the demo) as if an agent had sent it as
    JSON. Not validated (metrics/ingest.py stores what it is given): `validate_sample` is."""
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
    return _sample_of(json.loads(text), text)


def validate_sample(frame: dict[str, Any]) -> str | None:
    """None if the sample frame (a dict) is valid, else the nack's text: the server's own
    check, for tests of what agents send."""
    decoded = decode_frame(json.dumps(frame))
    return decoded.problem if isinstance(decoded, Rejected) else None


# --- raw_same ---------------------------------------------------------------------------------


def resolve(frame: SampleFrame, previous: dict[str, bytes]) -> SampleFrame | str:
    """The frame with each `raw_same` replaced by `previous[source]` (the raw of the
    connection's previous acked sample of this tier), or the nack's text if there is none."""
    for source in frame.same:
        if source not in previous:
            return f"data.{source}.raw_same: {RAW_SAME_EXPECTED}"
    raws = {source: previous[source] for source in frame.same}
    return replace(frame, text=_splice(frame.text, raws), raws={**frame.raws, **raws}, same=())


RAW_SAME_EXPECTED: Final = "no sample of this tier with raw output was acked on this connection"
_Pieces = dict[str, msgspec.Raw]


def _splice(text: bytes, raws: dict[str, bytes]) -> bytes:
    """The frame's bytes with `"raw": <raws[source]>` for `raw_same` in each source: the
    values are copied as they are (msgspec.Raw), only the few objects around them are
    written again."""
    try:
        top = msgspec.json.decode(text, type=_Pieces)
        data = msgspec.json.decode(top["data"], type=_Pieces)
        for source, raw in raws.items():
            part = msgspec.json.decode(data[source], type=_Pieces)
            part.pop("raw_same", None)
            part["raw"] = msgspec.Raw(raw)
            data[source] = msgspec.Raw(msgspec.json.encode(part))
        top["data"] = msgspec.Raw(msgspec.json.encode(data))
        return msgspec.json.encode(top)
    except msgspec.DecodeError:  # what only the standard library reads (lone surrogates)
        frame = json.loads(text)
        for source, raw in raws.items():
            frame["data"][source].pop("raw_same", None)
            frame["data"][source]["raw"] = json.loads(raw)
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


__all__ = [
    "FrameError",
    "Invalid",
    "KeptRaw",
    "Rejected",
    "SampleFrame",
    "decode_frame",
    "resolve",
    "sample_frame",
]
