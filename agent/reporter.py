"""The agent's connection to the server (PROTOCOL.md): join, send samples, handle ack and nack,
react to every close code, reconnect.

Collection does not depend on the connection: the tier loops put samples into the buffer on
their own schedule, and the reporter sends what the buffer holds whenever it is connected, the
resent backlog first (seq order) and new samples as they come. A sample leaves the buffer only
when the server acks it (stored) or nacks it (invalid, must not be resent).

Raw command output that has not changed is not sent again (PROTOCOL.md, "Raw output may be
left out"): a sample whose `raw` is byte-identical to the raw of the last sample of its tier
the server acked on this connection goes out with `"raw_same": true` instead. The buffer keeps
the whole sample: after a reconnect, the first sample of each tier carries its raw again
(agent/rawsame.py).

The agent dials exactly the configured URL: no redirects, no proxy from the environment, TLS
verified against the system trust store or `ca_file`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, SecurityError

import agent
from agent.buffer import Buffer
from agent.collect import serialize
from agent.config import Config
from agent.rawsame import RawSame

log = logging.getLogger("proxmon.agent")
# websockets logs every frame at debug level, the join frame and its token included: its own
# logger is pinned above debug whatever the agent's log level is.
_ws_log = logging.getLogger("proxmon.agent.websocket")
_ws_log.setLevel(logging.WARNING)

PROTOCOL = 1
PING_INTERVAL_S = 20.0
OPEN_TIMEOUT_S = 15.0
JOIN_REPLY_TIMEOUT_S = 30.0  # the server checks a bcrypt hash before it answers
MAX_INCOMING_BYTES = 1024 * 1024  # the server sends joined/ack/nack: small frames
WINDOW = 64  # samples sent and not yet acked on one connection
CLOCK_SKEW_WARN_S = 60.0
EXIT_UNSUPPORTED_PROTOCOL = 3

_CLOSE_MEANINGS = {
    1000: "normal closure",
    1001: "server going away",
    1011: "server error; unacked samples are resent",
    4400: "protocol violation",
    4408: "no join in time",
}


@dataclass(frozen=True)
class Delays:
    """Reconnect delays in seconds (PROTOCOL.md, close codes)."""

    initial: float = 1.0
    maximum: float = 60.0
    rejected: float = 300.0  # 4401: the token will not change by itself
    rejected_maximum: float = 1800.0
    rate_limited: float = 60.0  # 4429: the server counts joins per minute


class Backoff:
    """Exponential backoff with jitter: a delay between half and all of initial * 2^n, capped
    (and never under `initial`), so that many agents do not reconnect in step."""

    def __init__(
        self, initial: float, maximum: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.initial, self.maximum, self.rng = initial, maximum, rng
        self.attempts = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0**self.attempts)
        self.attempts = min(self.attempts + 1, 32)
        return max(self.initial, ceiling * (0.5 + 0.5 * self.rng()))

    def reset(self) -> None:
        self.attempts = 0


class _Stop(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _NoRedirects(connect):
    """websockets follows up to 10 redirects by default; the agent dials only its URL."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        if isinstance(exc, InvalidStatus) and 300 <= exc.response.status_code < 400:
            where = exc.response.headers.get("Location", "?")
            return SecurityError(
                f"server answered HTTP {exc.response.status_code} redirecting to {where}; "
                "redirects are not followed: put the final URL in server_url"
            )
        return exc


class Reporter:
    def __init__(
        self,
        config: Config,
        buffer: Buffer,
        *,
        delays: Delays = Delays(),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.buffer = buffer
        self.delays = delays
        self.rng = rng
        self.backoff = Backoff(delays.initial, delays.maximum, rng)
        self.rejected = Backoff(delays.rejected, delays.rejected_maximum, rng)
        self.replaced = Backoff(delays.initial, delays.maximum, rng)
        self.frame_limit: int | None = None  # learnt from a 1009: larger frames are shrunk
        self.joins = 0
        self._changed = asyncio.Event()
        self._in_flight: dict[int, int] = {}  # seq -> frame length, on the current connection
        self._raws = RawSame()  # what the server has acked on the current connection

    def wake(self) -> None:
        """A sample was buffered (or acked): the sender looks again."""
        self._changed.set()

    async def run(self, stop: asyncio.Event) -> int:
        """Stay connected until `stop` is set; returns the process exit code."""
        while not stop.is_set():
            attempt = asyncio.create_task(self._connection())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({attempt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)
            if not attempt.done():
                attempt.cancel()  # leaving `async with connect()` closes with 1000
                await asyncio.gather(attempt, return_exceptions=True)
                break
            try:
                delay = attempt.result()
            except _Stop as exc:
                return exc.code
            if await _sleep_unless(stop, delay):
                break
        return 0

    async def _connection(self) -> float:
        """One connection from dial to close; returns how long to wait before the next one."""
        url = self.config.server_url
        try:
            async with _NoRedirects(
                url,
                ssl=self.config.ssl_context(),
                proxy=None,
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_INTERVAL_S,
                max_size=MAX_INCOMING_BYTES,
                user_agent_header=f"proxmon-agent/{agent.__version__}",
                logger=_ws_log,
            ) as ws:
                await self._session(ws)
        except ConnectionClosed as exc:
            return self._after_close(exc)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            delay = self.backoff.next()
            log.warning("cannot connect to %s: %s; retrying in %.1f s", url, _describe(exc), delay)
            return delay
        except Exception:
            delay = self.backoff.next()
            log.exception("internal error in the connection; retrying in %.1f s", delay)
            return delay
        finally:
            self._in_flight, self._raws = {}, RawSame()
        return self.backoff.next()  # the session only ends by an exception; be safe anyway

    async def _session(self, ws: ClientConnection) -> None:
        join = {
            "type": "join",
            "protocol": PROTOCOL,
            "host": self.config.host,
            "token": self.config.token,
            "agent_version": agent.__version__,
        }
        await ws.send(json.dumps(join))
        try:
            async with asyncio.timeout(JOIN_REPLY_TIMEOUT_S):  # not wait_for: see _sleep_unless
                reply = _decode(await ws.recv())
        except TimeoutError:
            raise InvalidHandshake(f"no reply to join within {JOIN_REPLY_TIMEOUT_S:g} s") from None
        if reply is None or reply.get("type") != "joined":
            kind = "not a JSON object" if reply is None else repr(reply.get("type"))[:40]
            raise InvalidHandshake(f"expected a joined frame in reply to join, got {kind}")
        self._joined(reply)
        sender = asyncio.create_task(self._send_loop(ws))
        receiver = asyncio.create_task(self._receive_loop(ws))
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
        for task in done:
            task.result()  # ConnectionClosed, usually

    def _joined(self, reply: dict[str, Any]) -> None:
        self.joins += 1
        self.backoff.reset()
        self.rejected.reset()
        server_time = str(reply.get("server_time", ""))
        log.info("joined as %s (server time %s)", reply.get("host", self.config.host), server_time)
        try:
            skew = datetime.fromisoformat(server_time.replace("Z", "+00:00")).timestamp()
            skew -= time.time()
        except ValueError:
            skew = 0.0
        if abs(skew) > CLOCK_SKEW_WARN_S:
            log.warning(
                "this host's clock is %.0f s %s the server's: check time sync (chrony, NTP)",
                abs(skew),
                "behind" if skew > 0 else "ahead of",
            )
        if len(self.buffer):
            log.info("%d sample(s) to send", len(self.buffer))

    async def _send_loop(self, ws: ClientConnection) -> None:
        last = 0
        while True:
            item = self.buffer.next_after(last) if len(self._in_flight) < WINDOW else None
            if item is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            seq, text = item
            last = seq
            if self.frame_limit is not None and len(text) > self.frame_limit:
                how, size = self._shrink(seq, text, self.frame_limit)
                log.debug(
                    "sample seq %d of %d bytes is sent %s (%d bytes)", seq, len(text), how, size
                )
                text = self.buffer.get(seq) or ""
            text = self._raws.outgoing(seq, text)
            self._in_flight[seq] = len(text)
            await ws.send(text)

    async def _receive_loop(self, ws: ClientConnection) -> None:
        while True:
            frame = _decode(await ws.recv())
            if frame is None:
                log.warning("ignoring a frame from the server that is not a JSON object")
                continue
            kind, seq = frame.get("type"), frame.get("seq")
            if kind in ("ack", "nack") and isinstance(seq, int) and not isinstance(seq, bool):
                self._in_flight.pop(seq, None)
                self._raws.answered(seq, acked=kind == "ack")
                if kind == "ack":
                    self.buffer.ack(seq)
                    log.debug("acked seq=%d", seq)
                else:
                    self.buffer.nack(seq, str(frame.get("error", "no reason given"))[:500])
                self._changed.set()
            else:
                log.debug("ignoring a %.40r frame from the server", kind)

    def _after_close(self, exc: ConnectionClosed) -> float:
        code, reason = _close_of(exc)
        if code != 4409:
            self.replaced.reset()
        if code == 4401:
            delay = self.rejected.next()
            log.error(
                "token rejected by the server (4401 %s): check host and token in %s; "
                "retrying in %.0f s",
                reason,
                self.config.path,
                delay,
            )
        elif code == 4426:
            log.error(
                "the server does not speak protocol %d (4426 %s): stopping; "
                "update the agent or the server",
                PROTOCOL,
                reason,
            )
            raise _Stop(EXIT_UNSUPPORTED_PROTOCOL)
        elif code == 4429:
            delay = self.delays.rate_limited * (1 + 0.25 * self.rng())
            log.warning("too many joins from this address (4429); retrying in %.0f s", delay)
        elif code == 4409:
            delay = self.replaced.next()
            log.warning(
                "replaced by a newer connection for host %s (4409): is a second agent running "
                "with this host name? reconnecting in %.1f s",
                self.config.host,
                delay,
            )
        elif code == 1009:
            self._too_large()
            delay = self.backoff.next()
        else:
            delay = self.backoff.next()
            meaning = _CLOSE_MEANINGS.get(code, "") if code is not None else "connection lost"
            what = f"{code} {reason}".strip() if code is not None else reason
            log.warning("disconnected (%s; %s); reconnecting in %.1f s", what, meaning, delay)
        return delay

    def _too_large(self) -> None:
        """The server refused a frame as too large (1009): shrink the largest one in flight
        (it is over the limit if any is) and remember the limit for the samples after it."""
        sizes = [(size, seq) for seq, size in self._in_flight.items() if seq in self.buffer]
        if not sizes:
            log.warning("server closed with 1009 (frame too large), but no sample was in flight")
            return
        size, seq = max(sizes)
        self.frame_limit = size - 1 if self.frame_limit is None else min(self.frame_limit, size - 1)
        how, smaller = self._shrink(seq, self.buffer.get(seq) or "", self.frame_limit)
        log.warning(
            "server closed with 1009 (frame too large): sample seq %d (%s) of %d bytes is "
            "resent %s (%d bytes); larger samples are shrunk the same way from now on",
            seq,
            self.buffer.label(seq),
            size,
            how,
            smaller,
        )

    def _shrink(self, seq: int, text: str, limit: int) -> tuple[str, int]:
        smaller, how = shrink(text, limit)
        self.buffer.replace(seq, smaller)
        return how, len(smaller)


def shrink(text: str, limit: int) -> tuple[str, str]:
    """A sample small enough for a server that refused `limit + 1` bytes: first without the
    `raw` command output (the summaries stay); if that is still over `limit`, only its errors,
    one per source, so the server still learns that the sample existed. Returns the new
    text and how it was made smaller, for the log."""
    frame = json.loads(text)
    data = frame.get("data") or {}
    for value in data.values():
        if isinstance(value, dict) and value.get("raw") is not None:
            value["raw"] = None  # the key stays: the protocol requires it
    smaller = serialize(frame)
    if len(smaller) <= limit:
        return smaller, "without raw command output"
    reason = f"dropped: the sample was {len(text)} bytes, more than the server accepts"
    sources = [key for key in data if key != "via"]  # `via` describes sources, is none
    frame["errors"] = {**dict.fromkeys(sources, reason), **frame.get("errors", {})}
    frame["data"] = {}
    return serialize(frame), "as errors only"


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, or return True at once when `stop` is set."""
    # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a cancellation that
    # arrives as the awaited thing finishes (CPython issue 86296; proxmon/layers.py).
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


def _decode(message: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(message)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def _close_of(exc: ConnectionClosed) -> tuple[int | None, str]:
    """The server's close code and reason; None when it sent none (crash, network)."""
    if exc.rcvd is not None and (exc.sent is None or exc.rcvd_then_sent):
        return exc.rcvd.code, exc.rcvd.reason
    return None, str(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, InvalidStatus):
        text = f"server answered HTTP {exc.response.status_code} instead of a WebSocket"
    return " ".join(text.split())[:300]
