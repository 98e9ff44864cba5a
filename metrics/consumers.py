"""The agent WebSocket, /ws/agent: protocol v1 as docs/protocol.md describes it.

One consumer per agent connection. Frames are handled one at a time, in order; anything that
blocks (bcrypt, the ORM, big JSON) runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from hosts.models import Host
from metrics import codec, events, liveness
from metrics.connection_watch import checker
from metrics.decode import FrameError, KeptRaw, Rejected, SampleFrame, decode_frame, resolve
from metrics.ingest import Pending, TokenRevoked
from metrics.limits import client_address, join_limiter
from metrics.memo import Memo
from metrics.protocol import INT64_MAX
from metrics.writer import writer

log = logging.getLogger(__name__)

PROTOCOL_VERSIONS = (1,)
# Frames larger than this are parsed and validated in a worker thread.
INLINE_FRAME_BYTES = 64 * 1024
# Frames from this size on wait for a slot (metrics/writer.py) before they are decoded.
SLOT_FRAME_BYTES = 4096
# The key of a websocket.receive message whose frame waits compressed (`manage.py serve`).
PACKED = "proxmon.zstd"
NACKS_BEFORE_CLOSE = 10
# Two samples of a tier whose delays differ by less than this are live, not a resent backlog.
SKEW_STEADY_S = 5.0


class Close:
    MALFORMED = 4400
    UNAUTHORIZED = 4401
    JOIN_TIMEOUT = 4408
    REPLACED = 4409
    UNSUPPORTED_PROTOCOL = 4426
    RATE_LIMITED = 4429
    TOO_LARGE = 1009
    SERVER_ERROR = 1011


def decode_sample(text: str) -> tuple[Any, str | None]:
    """The frame and, for a sample, the nack's error text (None: valid); FrameError if it is
    not a JSON object with a string `type`. For benchmarks and tests: the consumer itself
    reads frames with metrics.decode.decode_frame."""
    frame = decode_frame(text)
    if isinstance(frame, Rejected):
        return {"type": "sample", "seq": frame.seq}, frame.problem
    return frame, None


def group_name(host_id: int) -> str:
    return f"agent.host.{host_id}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SkewTracker:
    """Clock skew from the delay between `collected_at` and arrival.

    A resent backlog also arrives late, so a delay only counts as skew once two consecutive
    samples of one tier arrive equally late (a backlog's delays shrink by the tier's interval
    from one sample to the next), or when a sample comes from the future.
    """

    def __init__(self) -> None:
        self.previous: dict[str, float] = {}

    def observe(self, tier: str, delay_s: float) -> float | None:
        previous = self.previous.get(tier)
        self.previous[tier] = delay_s
        if delay_s < -SKEW_STEADY_S:
            return round(delay_s, 1)
        if previous is not None and abs(delay_s - previous) < SKEW_STEADY_S:
            return round(delay_s, 1)
        return None


class AgentConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        """channels' dispatch without its `aclose_old_connections()` before every message.

        That is a hop to the one sync thread, the writer's database thread, for each frame:
        queued behind the batch being stored, and a thread wake-up each way. This consumer
        touches the database only through database_sync_to_async (the writer's batches, the
        join's token check), which closes old connections itself around each call.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.address = client_address(self.scope)
        self.host_id: int | None = None
        self.host_name = ""
        self.token_hash = ""
        self.connection_id = uuid.uuid4()
        self.nacks = 0
        self.closed = False
        self.skew = SkewTracker()
        self.memo = Memo()  # what this connection's samples stored (metrics/ingest.py)
        # tier -> source -> the raw output of the tier's last acked sample: what a `raw_same`
        # stands for (docs/protocol.md, "Raw output may be left out"), and what a raw sent
        # again unchanged is not scanned for again (metrics/decode.py)
        self.raws: dict[str, dict[str, KeptRaw]] = {}
        # until the join: closes the connection if no join frame comes in time; dropped at the
        # join (a cancelled task that is kept keeps its exception, traceback and frame alive
        # for the life of the connection, at 5,000 connections)
        self.join_deadline: asyncio.Task | None = None
        await liveness.ensure_started()
        await self.accept()
        self.join_deadline = asyncio.create_task(self._join_deadline())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        checker().remove(self)
        if self.join_deadline is not None:
            self.join_deadline.cancel()
        if self.host_id is not None:
            await self.channel_layer.group_discard(group_name(self.host_id), self.channel_name)
            if await writer().call(Host.objects.disconnect, self.host_id, self.connection_id):
                await events.host_changed(self.host_name)
            log.info("agent %s disconnected (code %s)", self.host_name, code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:
            return
        if text_data is None:
            await self._close(Close.MALFORMED, "binary frames are not part of the protocol")
            return
        if len(text_data) > settings.PROXMON_MAX_FRAME_BYTES:
            # daphne enforces the limit before the frame is read; this covers other servers
            await self._close(Close.TOO_LARGE, "frame too large")
            return
        if len(text_data) < SLOT_FRAME_BYTES:
            await self._handle(text_data)  # joins and small samples
            return
        # A decoded 58 KB sample is ~270 KB of Python objects. Decoded only when one of the
        # process's slots is free, so that thousands of agents sending at once queue as text
        # rather than as gigabytes of dicts the garbage collector keeps walking.
        async with writer().slots:
            await self._handle(text_data)

    async def websocket_receive(self, message: dict) -> None:
        # The frame is taken out of the message: channels' dispatch loop (await_many_dispatch)
        # keeps the last message of each connection until the next one arrives, 30 s later;
        # 5,000 agents' last 58 KB frames held ~250 MB (docs/benchmarks.md, "The memory of
        # 5,000 connections"). Handled, the frame is nobody's.
        text, packed = message.pop("text", None), message.pop(PACKED, None)
        if packed is not None:
            # A big frame that arrived while every slot was taken, compressed to wait (`manage.py
            # serve`): decompressed only once it has a slot (its size was checked by daphne).
            if not self.closed:
                async with writer().slots:
                    await self._handle(codec.decompress(packed))
        elif text is not None:
            await self.receive(text_data=text)
        else:
            await self.receive(bytes_data=message.get("bytes"))

    async def _handle(self, text_data: str | bytes) -> None:
        try:
            if len(text_data) > INLINE_FRAME_BYTES:
                frame = await sync_to_async(decode_frame, thread_sensitive=False)(
                    text_data, self.raws
                )
            else:
                frame = decode_frame(text_data, self.raws)
        except FrameError as exc:
            await self._close(Close.MALFORMED, str(exc))
            return
        kind = "sample" if isinstance(frame, (SampleFrame, Rejected)) else frame["type"]
        if self.host_id is None:
            if kind != "join" or not isinstance(frame, dict):
                await self._close(Close.MALFORMED, f"expected a join frame, got {kind!r}")
            else:
                await self._join(frame)
        elif not isinstance(frame, dict):
            await self._sample(frame, self.host_id)
        elif kind == "join":
            await self._close(Close.MALFORMED, "already joined")
        else:
            await self._close(Close.MALFORMED, f"unknown frame type {kind[:40]!r}")

    # --- join ------------------------------------------------------------------------------

    async def _join(self, frame: dict) -> None:
        # The join frame came in time (4408 is about the agent, not about how long we take to
        # check its token: in a storm of thousands that can be longer than the deadline).
        if self.join_deadline is not None:
            self.join_deadline.cancel()
            self.join_deadline = None
        protocol = frame.get("protocol")
        # failures count per address and host name (metrics/limits.py; no name counts as "")
        name, token = frame.get("host"), frame.get("token")
        counted = name if isinstance(name, str) else ""
        if isinstance(protocol, bool) or not isinstance(protocol, int):
            join_limiter.failed(self.address, counted)
            await self._close(Close.MALFORMED, "join needs an integer 'protocol'")
            return
        if protocol not in PROTOCOL_VERSIONS:
            supported = ", ".join(str(v) for v in PROTOCOL_VERSIONS)
            await self._close(Close.UNSUPPORTED_PROTOCOL, f"supported protocols: {supported}")
            return
        if join_limiter.blocked(self.address, counted):
            await self._close(Close.RATE_LIMITED, "too many failed joins; retry in 60 s")
            return
        version = frame.get("agent_version", "")
        if not (isinstance(name, str) and name and isinstance(token, str) and token):
            join_limiter.failed(self.address, counted)
            await self._close(Close.MALFORMED, "join needs string 'host' and 'token'")
            return
        if not isinstance(version, str):
            version = ""
        host = await database_sync_to_async(Host.objects.authenticate, thread_sensitive=False)(
            name[:255], token[:255]
        )
        if host is None:
            join_limiter.failed(self.address, name)
            log.warning("join rejected for host %r from %s", name[:63], self.address)
            await self._close(Close.UNAUTHORIZED, "unknown host or bad token")
            return
        now = utc_now()
        # In the writer's next batch: a join storm commits once per batch, not once per agent.
        online = await writer().call(
            Host.objects.connect,
            host.pk,
            host.token_hash,
            self.connection_id,
            liveness.PROCESS_ID,
            now,
            version[:64],
        )
        if not online:  # the token was revoked while we checked it
            await self._close(Close.UNAUTHORIZED, "unknown host or bad token")
            return
        join_limiter.succeeded(self.address, name)
        self.host_id, self.host_name, self.token_hash = host.pk, host.name, host.token_hash
        group = group_name(host.pk)
        await self.channel_layer.group_send(
            group, {"type": "agent.replaced", "connection_id": str(self.connection_id)}
        )
        await self.channel_layer.group_add(group, self.channel_name)
        checker().add(self)
        await self._send(
            {"type": "joined", "protocol": protocol, "host": host.name, "server_time": rfc3339(now)}
        )
        await events.host_changed(host.name)
        log.info("agent %s joined from %s (agent %s)", host.name, self.address, version or "?")

    async def _join_deadline(self) -> None:
        await asyncio.sleep(settings.PROXMON_JOIN_TIMEOUT_S)
        if self.host_id is None and not self.closed:
            await self._close(Close.JOIN_TIMEOUT, "no join frame in time")

    # --- samples ---------------------------------------------------------------------------

    async def _sample(self, frame: SampleFrame | Rejected, host_id: int) -> None:
        seq = frame.seq
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= INT64_MAX:
            await self._close(Close.MALFORMED, "a sample needs an integer 'seq'")
            return
        same = frame.same if isinstance(frame, SampleFrame) else ()
        if same and isinstance(frame, SampleFrame):
            frame = self._resolve(frame)
        if isinstance(frame, Rejected):
            self.nacks += 1
            await self._send({"type": "nack", "seq": seq, "error": frame.problem})
            if self.nacks >= NACKS_BEFORE_CLOSE:
                await self._close(Close.MALFORMED, f"{NACKS_BEFORE_CLOSE} invalid samples in a row")
            return
        received = utc_now()
        delay = (received - frame.collected_at).total_seconds()
        skew = self.skew.observe(frame.tier, delay)
        try:
            # Stored together with other connections' samples (group commit, metrics/writer.py).
            stored = await writer().store(
                Pending(host_id, self.token_hash, frame, received, skew, self.memo)
            )
        except TokenRevoked:
            await self._close(Close.UNAUTHORIZED, "token revoked")
            return
        except Exception:
            # Not acked: the agent keeps the sample and resends it after reconnecting.
            log.exception("storing a sample of %s failed", self.host_name)
            await self._close(Close.SERVER_ERROR, "could not store the sample; resend later")
            return
        self.nacks = 0
        # what a raw_same of the tier's next sample stands for; a raw that was itself a
        # raw_same, or was sent again unchanged, is the same bytes: its compressed copy is
        # kept, not made again
        kept = self.raws.get(frame.tier, {})
        again = (*same, *frame.unchanged)
        self.raws[frame.tier] = {
            s: kept[s] if s in again and s in kept else KeptRaw.of(raw)
            for s, raw in frame.raws.items()
        }
        await self._send({"type": "ack", "seq": seq})
        if stored.latest:
            await events.host_changed(self.host_name)

    def _resolve(self, frame: SampleFrame) -> SampleFrame | Rejected:
        """`raw_same` as the raw of this connection's last acked sample of the tier."""
        remembered = self.raws.get(frame.tier, {})
        previous = {s: raw.raw() for s, raw in remembered.items() if s in frame.same}
        resolved = resolve(frame, previous)
        return Rejected(frame.seq, resolved) if isinstance(resolved, str) else resolved

    # --- being told to go ------------------------------------------------------------------

    async def agent_replaced(self, event: dict) -> None:
        if event["connection_id"] != str(self.connection_id):
            await self._close(Close.REPLACED, "replaced by a newer connection")

    async def agent_revoked(self, event: dict) -> None:
        await self._close(Close.UNAUTHORIZED, "token revoked")

    async def verdict(self, verdict: str) -> None:
        """What the process-wide check of the host rows found (metrics/connection_watch.py)."""
        if verdict == "revoked":
            await self._close(Close.UNAUTHORIZED, "token revoked")
        elif verdict == "replaced":
            await self._close(Close.REPLACED, "replaced by a newer connection")

    # --- helpers ---------------------------------------------------------------------------

    async def _send(self, message: dict) -> None:
        if not self.closed:
            await self.send(text_data=json.dumps(message))

    async def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        await self.close(code=code, reason=reason)
