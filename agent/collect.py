"""Running the collectors of a tier and wrapping their result in a protocol sample.

A tier's sample is always produced: a source that fails is named in `errors` with a one-line
reason and the other sources are kept (PROTOCOL.md, "Samples"). A source that does not exist on
this host (no ZFS) is left out and said once per process, not every cycle. A bug in a collector
is an error entry too, with its traceback in the log, so it never costs the sample.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agent.collectors import COLLECTORS, TIERS
from agent.collectors.pmxcfs import Sourced
from agent.machine import Machine, NotApplicable, SourceError

log = logging.getLogger("proxmon.agent")

MAX_REASON_CHARS = 300

# Process-wide memory of what was already said, so that a 30 s cycle does not repeat it.
_said_lock = threading.Lock()
_not_applicable: set[str] = set()
_failing: dict[str, str] = {}


def collect_tier(machine: Machine, tier: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every collector of `tier` and return `(data, errors)`; never raises for a source."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    via: dict[str, str] = {}
    for module in COLLECTORS:
        if tier != module.TIER:
            continue
        source = module.SOURCE
        try:
            value = module.collect(machine)
            if isinstance(value, Sourced):  # pmxcfs files or the `pvesh` fallback
                value, via[source] = value
            # A value the server could not read (NaN, a set) must fail this source only.
            json.dumps(value, allow_nan=False)
        except SourceError as exc:
            errors[source] = one_line(str(exc)) or "failed without a reason"
        except NotApplicable as exc:
            _say_not_applicable(source, exc)
            continue
        except Exception as exc:
            log.exception("%s: internal error in the collector", source)
            errors[source] = one_line(f"internal error: {type(exc).__name__}: {exc}")
        else:
            data[source] = value
        _note_state(source, errors.get(source))
    # Optional `data.via` (docs/protocol.md): where a source's values came from.
    via = {source: how for source, how in via.items() if source in data}
    if via:
        data["via"] = via
    return data, errors


def rfc3339(timestamp: float) -> str:
    """UTC with `Z` and milliseconds: two samples of a tier never share a `collected_at`, which
    the server would take for the same sample resent (it keeps one per host, tier and time)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_sample(
    tier: str, seq: int, started: float, data: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """The protocol's sample frame; `started` (epoch seconds) is when collection began."""
    return {
        "type": "sample",
        "seq": seq,
        "tier": tier,
        "collected_at": rfc3339(started),
        "data": data,
        "errors": errors,
    }


def sample(machine: Machine, tier: str, seq: int) -> dict[str, Any]:
    """Collect `tier` now and return its sample frame."""
    started = time.time()
    data, errors = collect_tier(machine, tier)
    return make_sample(tier, seq, started, data, errors)


def serialize(frame: dict[str, Any]) -> str:
    """Compact JSON, ASCII only: a stray byte in a file name cannot break the UTF-8 frame."""
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


Deliver = Callable[[str, float, dict[str, Any], dict[str, str]], None]


async def collect_forever(
    machine: Machine,
    tier: str,
    interval: float,
    deliver: Deliver,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Collect `tier` at once and then every `interval` seconds, until cancelled.

    Runs whatever the connection does: samples pile up in the buffer while the server is away.
    Collection runs in a thread so the event loop keeps answering pings while `zpool` hangs.
    A cycle that overruns its interval skips the ticks it missed rather than running them back
    to back, so the cadence stays the configured one.
    """
    due = clock()
    while True:
        started = time.time()
        try:
            data, errors = await asyncio.to_thread(collect_tier, machine, tier)
            deliver(tier, started, data, errors)
        except Exception:  # a bug here must not end this tier's collection for good
            log.exception("%s collection failed", tier)
        due += interval
        now = clock()
        if now >= due:
            missed = int((now - due) // interval) + 1
            due += missed * interval
            log.warning(
                "%s collection took longer than its %g s interval; skipped %d cycle(s)",
                tier,
                interval,
                missed,
            )
        await asyncio.sleep(due - now)


def one_line(text: str) -> str:
    """A reason for `errors`: one line, bounded."""
    flat = " ".join(text.split())
    if len(flat) > MAX_REASON_CHARS:
        flat = flat[: MAX_REASON_CHARS - 3] + "..."
    return flat


def _say_not_applicable(source: str, exc: NotApplicable) -> None:
    with _said_lock:
        if source in _not_applicable:
            return
        _not_applicable.add(source)
    log.info("%s: not applicable: %s", source, one_line(str(exc)))


def _note_state(source: str, error: str | None) -> None:
    """Log when a source starts failing and when it recovers, not on every cycle."""
    with _said_lock:
        previous = _failing.get(source)
        if error is None:
            _failing.pop(source, None)
        else:
            _failing[source] = error
    if error is not None and previous is None:
        log.warning("%s: failing: %s", source, error)
    elif error is None and previous is not None:
        log.info("%s: working again", source)
