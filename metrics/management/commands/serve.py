import logging
import math
import time
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.core.management.base import BaseCommand

from metrics import liveness

log = logging.getLogger("proxmon.serve")

AGENT_PATH = b"/ws/agent"  # metrics/routing.py


class Command(BaseCommand):
    help = (
        "Run proxmon under daphne: pages, the agent WebSocket, the liveness heartbeat and "
        "hourly retention, with the keepalive and frame limits of docs/protocol.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=settings.PROXMON_BIND)
        parser.add_argument("--port", type=int, default=settings.PROXMON_PORT)

    def handle(self, bind: str, port: int, **options) -> str:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketFactory

        from proxmon.asgi import application

        WebSocketFactory.protocol = _reason_passing_protocol(
            settings.PROXMON_PING_INTERVAL_S, settings.PROXMON_PING_TIMEOUT_S
        )
        _watch_garbage_collector()
        liveness.start()
        server = Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=bind, port=port),
            signal_handlers=True,
            # agent connections live for weeks; daphne's default closes them after a day
            websocket_timeout=-1,
            # The keepalive is the protocol's own (below): daphne pings only on its 2 s timeout
            # sweep and times out from the ping, not from the last frame, 60-62 s in all.
            ping_interval=math.inf,
            ping_timeout=0,
            websocket_max_message_size=settings.PROXMON_MAX_FRAME_BYTES,
            websocket_max_frame_size=settings.PROXMON_MAX_FRAME_BYTES,
            application_close_timeout=10,
            ready_callable=lambda: log.info("proxmon listening on %s:%s", bind, port),
            verbosity=0,
        )
        try:
            server.run()
        finally:
            released = liveness.stop()
        return f"proxmon stopped; {released or 0} host(s) marked offline"


def _reason_passing_protocol(ping_interval_s: float, ping_timeout_s: float):
    """daphne's WebSocket protocol, with the changes docs/protocol.md relies on.

    - It passes the close reason on (daphne drops it; 4426 must name the supported versions).
    - A frame over the size limit (1009) or invalid UTF-8 (1007) is answered with a close
      frame the agent can read, instead of autobahn's default of dropping the TCP connection
      mid-upload, which the agent only sees as a reset. The rest of the oversized frame is
      read and discarded for up to 30 s while the agent acknowledges the close.
    - Keepalive: a ping after `ping_interval_s` in which nothing arrived, and the connection
      dropped (the host goes offline) once nothing arrived for `ping_interval_s +
      ping_timeout_s`, counted from the last bytes received (a frame, part of one, or a
      pong), on a timer of its own: exactly 60 s by default, where daphne's ping on its 2 s
      sweep plus a timeout counted from the ping made 60-62 s.
    - A big frame on the agent socket that arrives while every decode slot is taken (the
      writer is behind: metrics/writer.py) waits in the connection's queue compressed, not as
      text; the consumer decompresses it once it has a slot.
    - Text frames are checked for valid UTF-8 once whole, by CPython's decoder, instead of
      by autobahn's validator as each chunk arrives (7 % of a saturated server's CPU); what
      is not valid is closed with 1007 as before.
    - autobahn formats the values of its debug lines whether they are logged or not: its ~40
      settings pretty-printed at every connection (1.5 % of the process while 5,000 agents
      connect), names and values coloured for the terminal at every chunk of data received or
      sent (~1 % of a saturated process, 4 % of a join burst). Formatted only when logged now.
    """
    import autobahn.twisted.websocket
    import autobahn.websocket.protocol
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor

    from metrics import codec
    from metrics.consumers import PACKED, SLOT_FRAME_BYTES
    from metrics.writer import backlogged

    for module in (autobahn.websocket.protocol, autobahn.twisted.websocket):
        for name in ("pformat", "hltype", "hlval"):
            function = getattr(module, name, None)
            if function is not None and not isinstance(function, _Lazily):
                setattr(module, name, _Lazily(function))

    deadline_s = ping_interval_s + ping_timeout_s
    packing = [False]  # big frames are being queued compressed (logged when that begins)

    class ReasonPassingProtocol(WebSocketProtocol):
        def _connectionMade(self):
            super()._connectionMade()
            # UTF-8 is checked once a text message is whole (onMessage), not by autobahn's
            # validator byte by byte as it arrives: that was 7 % of a saturated server's CPU
            self.utf8validateIncoming = False
            self.failByDrop = False
            self.closeHandshakeTimeout = 30
            self.heard_at = time.monotonic()
            self.pinged_at = -math.inf
            self.keepalive = reactor.callLater(ping_interval_s, self._keep_alive)

        def dataReceived(self, data: bytes) -> None:
            self.heard_at = time.monotonic()
            super().dataReceived(data)

        def _keep_alive(self) -> None:
            self.keepalive = None
            if self.state == self.STATE_CLOSED:
                return
            now = time.monotonic()
            silent_s = now - self.heard_at
            if silent_s >= deadline_s:
                self.wasClean = False
                self.wasNotCleanReason = f"nothing received for {deadline_s:g} s"
                self.dropConnection(abort=True)
                return
            if silent_s >= ping_interval_s:
                if self.state == self.STATE_OPEN and self.pinged_at < self.heard_at:
                    self.sendPing()
                    self.pinged_at = now
                wake_at = self.heard_at + deadline_s
            else:
                wake_at = self.heard_at + ping_interval_s
            self.keepalive = reactor.callLater(max(0.0, wake_at - now), self._keep_alive)

        def connectionLost(self, reason) -> None:
            keepalive, self.keepalive = getattr(self, "keepalive", None), None
            if keepalive is not None and keepalive.active():
                keepalive.cancel()
            super().connectionLost(reason)

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            if not isBinary and not _utf8(payload):
                self._invalid_payload("encountered invalid UTF-8 while processing text message")
                return
            # A big agent frame arriving while every slot is taken waits for one compressed
            # (a twelfth of its size): at the start of 5,000 agents 15,000 frames of ~53 KB
            # arrive within 30 s, and as text they held a gigabyte (docs/benchmarks.md).
            big = not isBinary and len(payload) >= SLOT_FRAME_BYTES and self.path == AGENT_PATH
            if big and not self.muted and backlogged():
                if not packing[0]:
                    packing[0] = True
                    log.warning(
                        "every decode slot is taken: agent frames wait compressed until the"
                        " writer catches up"
                    )
                self.last_ping = time.time()
                packed = codec.compress(payload, level=1)
                self.application_queue.put_nowait({"type": "websocket.receive", PACKED: packed})
                return
            if big:
                packing[0] = False
            super().onMessage(payload, isBinary)

        def handle_reply(self, message):
            if message.get("type") == "websocket.close" and self.state == self.STATE_OPEN:
                reason = (message.get("reason") or "").encode()[:120].decode(errors="ignore")
                self.sendClose(code=message.get("code") or 1000, reason=reason or None)
                return
            super().handle_reply(message)

    return ReasonPassingProtocol


def _utf8(payload: bytes) -> bool:
    """True if `payload` is valid UTF-8: CPython's decoder, at memory speed for ASCII (an
    agent's frames are ASCII unless a name is not)."""
    if payload.isascii():
        return True
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Formatted:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make

    def __str__(self) -> str:
        return str(self.make())

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class _Lazily:
    """A formatting function whose result is made only when it is formatted: autobahn hands
    the results to Twisted's logger as values of debug lines, which formats only what it
    emits."""

    def __init__(self, function: Callable[..., object]) -> None:
        self.function = function

    def __call__(self, *args: object, **kwargs: object) -> _Formatted:
        return _Formatted(partial(self.function, *args, **kwargs))


# A full collection walks every container object of the process; with thousands of agent
# connections that can stall every connection at once. Long ones are logged.
GC_PAUSE_LOG_S = 0.1
GC_YOUNG_THRESHOLD = 50_000


def _watch_garbage_collector() -> None:
    """Log long collections, and keep what start-up created out of every later one.

    The ~85,000 objects of Django, daphne and the apps live as long as the process; frozen
    (gc.freeze), a full collection walks only what the connections and samples created.
    """
    import gc
    import time

    gc.freeze()
    # A decoded sample is ~800 containers that live for a few milliseconds. With CPython's
    # default of a collection every 700 allocations, every sample in flight is caught by
    # collections and promoted to the oldest generation, whose growth then triggers a full
    # collection every few seconds: 100-215 ms stalls of every connection at 1,000 agents
    # (logged above). Every 50,000 allocations, nearly all of a sample is gone before a
    # collection sees it.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)

    started = [0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took >= GC_PAUSE_LOG_S:
            log.warning(
                "garbage collection of generation %s took %.0f ms (%s objects freed)",
                info["generation"],
                took * 1000,
                info["collected"],
            )

    gc.callbacks.append(watch)
