"""The alert worker of a server process: sweep, send, ping the dead-man's switch.

Every server process runs one (started with metrics.liveness's background thread), but only
the process that holds the "alerts" lease (alerts.models.Lease) works; the others wait to take
over when its lease expires (PROXMON_ALERT_LEASE_S after it died). So exactly one process
sweeps and sends, on SQLite and PostgreSQL alike.

Each channel is sent to from a thread of its own, so a channel that never answers delays
only itself.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from alerts import engine, sender
from alerts.models import Lease
from metrics import liveness

log = logging.getLogger(__name__)

LEASE = "alerts"
PRUNE_EVERY_S = 3600
# The share of the process the sweep takes over time, at most (see Worker.round).
SWEEP_SHARE = 0.1

_lock = threading.Lock()
_worker: Worker | None = None


class Interrupted(Exception):
    """A sweep in progress ends where it is: the server stops, or the lease went to another."""


class Worker:
    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="proxmon-alert-send")
        self.in_flight: set[int | str] = set()
        self.in_flight_lock = threading.Lock()
        self.next_sweep = 0.0
        self.swept_s = 0.0  # work of the sweep in progress (its slices), seconds
        self.next_prune = 0.0
        self.next_heartbeat = 0.0
        self.holder = False
        self.next_lease = 0.0
        self.thread = threading.Thread(target=self.run, name="proxmon-alerts", daemon=True)

    def run(self) -> None:
        while not self.stop_event.is_set():
            # The connection is kept between rounds (two a second; opening one on SQLite runs
            # its PRAGMAs) and renewed after CONN_MAX_AGE or an error.
            try:
                close_old_connections()
                self.round()
            except Interrupted:
                pass
            except Exception:
                log.exception("alert round failed; trying again")
                connection.close()
            self.wake_event.wait(settings.PROXMON_ALERT_POLL_S)
            self.wake_event.clear()
        try:
            Lease.release(LEASE, liveness.PROCESS_ID)
        finally:
            connection.close()

    def round(self) -> None:
        now, clock = timezone.now(), time.monotonic()
        if not self.keep_lease(now, clock):
            return
        if clock >= self.next_sweep:
            self.swept_s = 0.0
            engine.sweep(rest=self.rest)
            # A paced sweep takes at most a quarter of the process while it runs; over time at
            # most a tenth: one that worked W seconds is followed by the next 10 W after it
            # began, if that is later than PROXMON_ALERT_SWEEP_S (thousands of hosts).
            every = max(settings.PROXMON_ALERT_SWEEP_S, self.swept_s / SWEEP_SHARE)
            self.next_sweep = clock + every
        if clock >= self.next_prune:
            self.next_prune = clock + PRUNE_EVERY_S
            engine.prune(now)
        if settings.PROXMON_HEARTBEAT_URL and clock >= self.next_heartbeat:
            self.next_heartbeat = clock + settings.PROXMON_HEARTBEAT_EVERY_S
            self.submit("heartbeat", ping_heartbeat)
        self.send_due()

    def keep_lease(self, now, clock: float) -> bool:
        """Whether this process holds the lease. Renewed (or tried) three times per lease, not
        at every poll: on SQLite each try is a write transaction, and ingest waits for the same
        lock."""
        if clock >= self.next_lease:
            lease_s = settings.PROXMON_ALERT_LEASE_S
            self.holder = Lease.acquire(LEASE, liveness.PROCESS_ID, lease_s, now)
            self.next_lease = clock + lease_s / 3
        return self.holder

    def send_due(self) -> None:
        for channel_id in sender.due_channels():
            self.submit(channel_id, sender.send_channel, channel_id)

    def rest(self, seconds: float) -> None:
        """Between the slices of a paced sweep (alerts.engine.sweep): messages committed
        meanwhile go out now, not after the sweep, and the lease is renewed when due (a sweep
        of many hosts may take longer than the lease). A stopping server does not wait for
        the sweep to end, nor does a process that lost the lease go on with it."""
        self.swept_s += seconds / engine.REST_FACTOR
        if self.wake_event.wait(seconds):
            self.wake_event.clear()
            if self.stop_event.is_set():
                raise Interrupted
            self.send_due()
        if not self.keep_lease(timezone.now(), time.monotonic()):
            raise Interrupted

    def submit(self, name: int | str, function, *args) -> None:
        with self.in_flight_lock:
            if name in self.in_flight:
                return
            self.in_flight.add(name)

        def job() -> None:
            try:
                function(*args)
            except Exception:
                log.exception("alert job %s failed", name)
            finally:
                connection.close()
                with self.in_flight_lock:
                    self.in_flight.discard(name)
                # a message written while this one was sent was skipped: look again now
                self.wake_event.set()

        self.pool.submit(job)


def ping_heartbeat() -> None:
    """GET PROXMON_HEARTBEAT_URL; its URL may hold a token, so it is never logged."""
    try:
        with urllib.request.urlopen(settings.PROXMON_HEARTBEAT_URL, timeout=10) as response:
            response.read(1024)
    except Exception as exc:
        log.warning("heartbeat URL failed: %s", type(exc).__name__)


def start() -> None:
    global _worker
    with _lock:
        if _worker is None:
            _worker = Worker()
            _worker.thread.start()


def stop() -> None:
    global _worker
    with _lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.stop_event.set()
        worker.wake_event.set()
        worker.thread.join(timeout=30)
        worker.pool.shutdown(wait=False, cancel_futures=True)


def wake() -> None:
    """New deliveries were committed in this process: look now, not at the next poll."""
    worker = _worker
    if worker is not None:
        worker.wake_event.set()


def on_started(**kwargs) -> None:
    if settings.PROXMON_ALERTS:
        start()


def on_stopping(**kwargs) -> None:
    stop()
