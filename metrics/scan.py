"""What msgspec does not check in a sample frame, looked for in its bytes: nesting deeper than
64 levels, numbers that overflow to infinity (or that the standard library would refuse), and
calendar days that do not exist (metrics/decode.py: a frame with any of them is read again by
the standard library and judged exactly); and whether a frame may hold a NUL character, which
what ingest derives from it leaves out (metrics/ingest.py).

Everything here works on the bytes with the C loops of bytes.translate/replace/find/count and
memchr: no Python object is built for a value of the frame.
"""

from __future__ import annotations

import re
from typing import Final

from metrics.protocol import MAX_DEPTH

# Days that may not exist (February 29 exists in leap years: the slow path decides), as the
# six bytes before a time's `T`; _DAYS finds the same in a frame with many a `T`.
_DAYS: Final = re.compile(rb"-(?:02-(?:29|3[01])|(?:0[469]|11)-31)T")
_BAD_DAYS: Final = frozenset(
    (b"-02-29", b"-02-30", b"-02-31", b"-04-31", b"-06-31", b"-09-31", b"-11-31")
)
_MAX_TS: Final = 64
_MAX_ESCAPES: Final = 16
# What structure and numbers are made of, digits as 0 and exponents as e; the rest goes (an
# exponent's sign too: JSON has no other `+` or `-` outside strings that matters here).
_KEEP: Final = b'"[]{},:0123456789eE'
_TABLE: Final = bytes.maketrans(b"123456789E", b"000000000e")
_DROP: Final = bytes(c for c in range(256) if c not in _KEEP)
_NOT_STRUCTURE: Final = b"0e,:"
# An exponent of three digits or more (1e400 and 1e+400 overflow; 1e100 and 1e-400 are only
# looked at), which in JSON always follows a digit, or a run of 309 digits (a float that
# overflows, or an integer the standard library may refuse). Sought in C (bytes.find), whose
# speed goes with how rare the needle's last byte is: `0e000` is found as fast as `e000`, and
# hex in strings (`e0a1`) that the quote count below has to rule out comes up less often.
_NUMBERS: Final = (b"0e000", b"0" * 309)
_MAX_HITS: Final = 256


def unusual(body: bytes) -> bool:
    """True if the frame may break a rule msgspec does not check (nesting, infinity, calendar
    days). Not a verdict: most frames are plainly fine, and the others go to the exact check.
    Works on the bytes with the C loops of bytes.translate/replace/find and re: no Python
    object is built for a value (a 53 KB frame with raw: ~0.17 ms, bench/decode.py)."""
    if _impossible_day(body):
        return True
    kept = _unescaped(body).translate(_TABLE, _DROP)
    hits = sorted(at for needle in _NUMBERS for at in _finds(kept, needle))
    if len(hits) > _MAX_HITS:
        return True  # a frame full of them: the exact check's C parser is cheaper than this loop
    quotes, last = 0, 0
    for at in hits:  # a hit inside a string (hex in device paths is common) does not count
        quotes, last = quotes + kept.count(b'"', last, at), at
        if quotes % 2 == 0:
            return True
    return _deeper_than_64(_brackets(kept))


def _impossible_day(body: bytes) -> bool:
    """True if a time in `body` may name a day that does not exist (_DAYS). Times are found
    by their `T` (memchr: a frame has a dozen or two), not by a regular expression walking
    every byte (~45 µs for a 53 KB frame)."""
    ts = _finds(body, b"T", _MAX_TS)
    if len(ts) > _MAX_TS:
        return _DAYS.search(body) is not None  # many a `T` (text output in raw): one pass
    return any(body[max(at - 6, 0) : at] in _BAD_DAYS for at in ts)


def may_hold_nul(text: bytes) -> bool:
    """`\\u0000` in `text`, looked for at its backslashes (memchr): `in` searches a 53 KB frame
    with CPython's two-way algorithm, 27 µs for every sample (metrics/ingest.py asks). Frames
    with many escapes (text output in raw) are searched as a whole after the first few."""
    escapes = _finds(text, b"\\", _MAX_ESCAPES)
    if any(text.startswith(b"u0000", at + 1) for at in escapes):
        return True
    return len(escapes) > _MAX_ESCAPES and text.find(b"\\u0000", escapes[-1]) >= 0


def _brackets(kept: bytes) -> bytes:
    """The brackets outside strings of `kept` (bytes without escapes, translated as in
    `unusual`)."""
    # Quotes alternate open/close: taking out adjacent pairs keeps that, and empty strings
    # (or two strings with no structure between them) go first, cheaply.
    brackets = kept.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _STRING.sub(b"", brackets)
    return brackets


_EMPTY_PAIR: Final = re.compile(rb"\[\]|\{\}")


def depth(raw: bytes) -> int:
    """How deep a valid JSON value nests (an object of numbers: 1). Each pass takes out the
    empty pairs, which are exactly the innermost level."""
    brackets = _brackets(_unescaped(raw).translate(_TABLE, _DROP))
    depth = 0
    while brackets:
        inner = _EMPTY_PAIR.sub(b"", brackets)
        if len(inner) == len(brackets):  # not valid JSON: msgspec read it, so never
            return MAX_DEPTH + 1
        brackets, depth = inner, depth + 1
    return depth


_STRING: Final = re.compile(rb'"[^"]*"')


def _unescaped(body: bytes) -> bytes:
    """The bytes without escape pairs (backslash and the next byte): an escaped quote is no
    string end. Escapes are rare outside text-form raw output."""
    at = body.find(b"\\")
    if at < 0:
        return body
    if body.count(b"\\") > 64:
        return body.replace(b"\\\\", b"").replace(b'\\"', b"")
    pieces, start = [], 0
    while at >= 0:
        pieces.append(body[start:at])
        start = at + 2
        at = body.find(b"\\", start)
    pieces.append(body[start:])
    return b"".join(pieces)


def _finds(text: bytes, needle: bytes, limit: int = _MAX_HITS) -> list[int]:
    """Where `needle` stands in `text`, the first `limit` + 1 places at most."""
    found: list[int] = []
    at = text.find(needle)
    while at >= 0 and len(found) <= limit:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


def _deeper_than_64(brackets: bytes) -> bool:
    """Each pass takes out the innermost pairs: at least one level, at most two. Empty after
    32 passes: the frame nests at most 64 levels below its own object (`data` is level 1 of
    the protocol's count, so even 65 would be allowed). Otherwise: maybe, look exactly."""
    for _ in range(32):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)
