"""Agents' text as people read it: on pages and in notifications."""

from __future__ import annotations

# Characters an agent's names must not bring to a reader: C0 and C1 controls (NUL, escape
# sequences) and the bidi controls that reorder what follows them, so that "evil\u202egpj.exe"
# reads "evilexe.jpg" (overrides and embeddings U+202A-E, isolates U+2066-9, and the marks).
# Line breaks and tabs become spaces.
_HIDDEN: dict[int, str | None] = dict.fromkeys(
    [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F]
    + [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_HIDDEN.update({ord(c): " " for c in "\t\n\r\v\f"})


def visible(value: object) -> str:
    """The text without control and bidi control characters ("" for None)."""
    if value is None:
        return ""
    return str(value).translate(_HIDDEN)
