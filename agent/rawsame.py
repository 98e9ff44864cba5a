"""Raw command output that has not changed is not sent again (PROTOCOL.md, "Raw output may be
left out").

A sample whose `raw` is byte-identical to the raw of the last sample of its tier that the
server acked on this connection goes out with `"raw_same": true` instead: the server stores it
as if it had carried that raw. One `RawSame` per connection, so the first sample of each tier
on a connection carries its raw; the buffer keeps whole samples for resending.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agent.collect import serialize

log = logging.getLogger("proxmon.agent")

# The sources whose `raw` may be sent as `raw_same`.
RAW_SOURCES: dict[str, tuple[str, ...]] = {"fast": ("zfs_pools",), "medium": ("datasets",)}


class RawSame:
    def __init__(self) -> None:
        # seq -> (tier, {source: its raw as sent}) of the samples in flight
        self.sent: dict[int, tuple[str, dict[str, str]]] = {}
        # tier -> {source: raw} of the last sample of the tier the server acked
        self.acked: dict[str, dict[str, str]] = {}

    def outgoing(self, seq: int, text: str) -> str:
        """The sample `text` as it is sent now. `raw_same` only when no other sample of the
        tier is in flight: the server resolves it against the last one it acked, which must
        be the one compared with here."""
        try:
            frame = json.loads(text)
        except ValueError:
            return text
        tier = frame.get("tier") if isinstance(frame, dict) else None
        if not isinstance(tier, str) or tier not in RAW_SOURCES:
            return text
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        parts = {s: data[s] for s in RAW_SOURCES[tier] if isinstance(data.get(s), dict)}
        raws = {s: _compact(p["raw"]) for s, p in parts.items() if p.get("raw") is not None}
        busy = any(sent_tier == tier for sent_tier, _ in self.sent.values())
        self.sent[seq] = (tier, raws)
        previous = self.acked.get(tier, {})
        same = [s for s, raw in raws.items() if not busy and previous.get(s) == raw]
        if not same:
            return text
        for source in same:
            del parts[source]["raw"]
            parts[source]["raw_same"] = True
        log.debug("sample seq %d: raw of %s unchanged, sent as raw_same", seq, ", ".join(same))
        return serialize(frame)

    def answered(self, seq: int, acked: bool) -> None:
        """The server acked (or nacked) `seq`: an ack makes its raws the tier's last."""
        sent = self.sent.pop(seq, None)
        if acked and sent is not None:
            self.acked[sent[0]] = sent[1]


def _compact(value: Any) -> str:
    """A value as `serialize` writes it inside a frame (the bytes the server keeps)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
