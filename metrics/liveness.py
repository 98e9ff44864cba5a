"""Whether an `online` host really has a live connection, across crashes and processes.

Every server process registers a ServerProcess row and refreshes its heartbeat; a host is
online on behalf of one process (Host.server_id). A process that died without cleaning up
(kill -9, power loss) is found by its stale heartbeat, or at once when it ran on this machine
and its pid is gone, and its hosts are marked offline. The same background thread prunes old
samples hourly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from hosts.models import Host
from metrics import forecast, history_worker, rollups, signals
from metrics.models import Keyframe, Kick, MetricPoint, Sample, ServerProcess

log = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4()
HOSTNAME = socket.gethostname()

_lock = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()


def register() -> None:
    now = timezone.now()
    ServerProcess.objects.update_or_create(
        id=PROCESS_ID,
        defaults={"hostname": HOSTNAME, "pid": os.getpid(), "heartbeat_at": now},
        create_defaults={
            "hostname": HOSTNAME,
            "pid": os.getpid(),
            "heartbeat_at": now,
            "started_at": now,
        },
    )


def heartbeat() -> None:
    if not ServerProcess.objects.filter(id=PROCESS_ID).update(heartbeat_at=timezone.now()):
        register()  # swept while stalled: come back


def sweep() -> int:
    """Forget dead server processes and mark their hosts offline; returns how many hosts."""
    cutoff = timezone.now() - timedelta(seconds=settings.PROXMON_PROCESS_DEAD_AFTER_S)
    dead = set(ServerProcess.objects.filter(heartbeat_at__lt=cutoff).values_list("id", flat=True))
    for process in ServerProcess.objects.filter(hostname=HOSTNAME).exclude(id=PROCESS_ID):
        if not _pid_alive(process.pid):
            dead.add(process.id)
    if dead:
        ServerProcess.objects.filter(id__in=dead).delete()
    live = list(ServerProcess.objects.values_list("id", flat=True))
    # No dashboard event from here: this runs outside the event loop that owns the in-memory
    # channel layer. Open dashboards pick these rare changes up on their periodic refresh.
    count = Host.objects.disconnect_servers_except(live)
    if count:
        log.info("marked %d host(s) offline: their server process is gone", count)
    return count


def release() -> int:
    """On a clean shutdown: this process's hosts go offline and its row goes away."""
    count = Host.objects.disconnect_server(PROCESS_ID)
    ServerProcess.objects.filter(id=PROCESS_ID).delete()
    return count


def prune(hours: int | None = None, should_stop=None, roll_up: bool = True) -> int:
    """Delete samples and chart points older than the retention window, and history rows
    whose span is older than theirs (rollups.prune); returns the samples.

    Samples the rollup pass has not read yet are kept, however old (metrics/rollups.py).
    `roll_up`: run a pass first (False when the history worker runs them)."""
    return prune_counts(hours, should_stop, roll_up)[0]


def prune_counts(
    hours: int | None = None, should_stop=None, roll_up: bool = True
) -> tuple[int, int]:
    """prune(), returning (samples, history rows) deleted."""
    hours = settings.PROXMON_RETENTION_HOURS if hours is None else hours
    should_stop = should_stop or _stop.is_set
    before = timezone.now() - timedelta(hours=hours)
    chunk = settings.PROXMON_PRUNE_CHUNK
    if roll_up:
        rollups.roll_up(should_stop=should_stop)  # history first: more of it can be pruned
    deleted = Sample.objects.filter(id__lte=rollups.rolled_up_to()).prune(
        before, chunk=chunk, should_stop=should_stop
    )
    MetricPoint.objects.prune(before, chunk=chunk, should_stop=should_stop)
    Keyframe.objects.prune(before, chunk=chunk, should_stop=should_stop)
    # kicks matter for the second it takes every process to poll them (metrics/connection_watch.py)
    Kick.objects.prune(timezone.now() - timedelta(hours=1), chunk=chunk, should_stop=should_stop)
    points = rollups.prune(chunk=chunk, should_stop=should_stop)
    if deleted or points:
        log.info(
            "pruned %d sample(s) collected before %s and %d history row(s)",
            deleted,
            before.isoformat(),
            points,
        )
    return deleted, points


def start() -> None:
    """Register, clean up after dead processes, and run heartbeat and pruning in a thread."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        register()
        sweep()
        _stop.clear()
        _thread = threading.Thread(target=_loop, name="proxmon-liveness", daemon=True)
        _thread.start()
        signals.background_started.send(ServerProcess)


def stop() -> int:
    """Stop the thread and release this process's hosts; returns how many went offline."""
    global _thread
    with _lock:
        if _thread is not None:
            signals.background_stopping.send(ServerProcess)
            _stop.set()
            _thread.join(timeout=30)
            _thread = None
        history_worker.stop()
    try:
        return release()
    finally:
        connection.close()


async def ensure_started() -> None:
    if settings.PROXMON_BACKGROUND and _thread is None:
        await database_sync_to_async(start)()


def _loop() -> None:
    next_prune = next_rollup = next_forecast = 0.0
    while True:
        try:
            close_old_connections()
            heartbeat()
            sweep()
            # history in its own process (metrics/history_worker.py); here only without it
            worker = not _stop.is_set() and history_worker.ensure_running()
            if not worker and time.monotonic() >= next_rollup:
                rollups.roll_up(should_stop=_stop.is_set)
                next_rollup = time.monotonic() + settings.PROXMON_HISTORY_INTERVAL_S
            if time.monotonic() >= next_prune:
                prune(roll_up=not worker)
                next_prune = time.monotonic() + settings.PROXMON_PRUNE_INTERVAL_S
            if not worker and time.monotonic() >= next_forecast:
                forecast.refresh(should_stop=_stop.is_set)
                next_forecast = time.monotonic() + forecast.EVERY_S
        except Exception:
            log.exception("liveness/retention round failed; trying again")
        finally:
            connection.close()
        if _stop.wait(settings.PROXMON_HEARTBEAT_S):
            return


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
