"""The roll-up pass and the forecasts in a process of their own, beside the server.

Rolling up decodes every fast sample once (~0.25 ms of CPU each, metrics/rollups.py). Run in
the server's background thread, that CPU was taken from ingest: one Python process has one
GIL, and the event loop, which gives the GIL up at every socket and database call, waited to
get it back behind the pass (docs/benchmarks.md "History"). So the background thread starts
`manage.py roll_up --every PROXMON_HISTORY_INTERVAL_S --parent PID` as a child process, checks
it every round (starting it again if it died, logging its exit status), and stops it on
shutdown. The child exits by itself when its parent is gone (kill -9 of the server).

If the child cannot be started at all, the background thread rolls up itself, as before:
history must not stop because a process could not be spawned.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from django.conf import settings

log = logging.getLogger(__name__)

# a child that dies at once (a broken setting, say) is started again at most once per pass
# interval, and at most once a minute
RESTART_AFTER_S = 60.0
STOP_TIMEOUT_S = 10.0

_child: subprocess.Popen | None = None
_started = 0.0


def command() -> list[str]:
    """The child's command line: no secret in it (settings come from the environment)."""
    return [
        sys.executable,
        str(settings.BASE_DIR / "manage.py"),
        "roll_up",
        "--every",
        str(settings.PROXMON_HISTORY_INTERVAL_S),
        "--parent",
        str(os.getpid()),
    ]


def ensure_running() -> bool:
    """Start the child unless it runs; whether it runs now (False: roll up in this process)."""
    global _child, _started
    if _child is not None:
        code = _child.poll()
        if code is None:
            return True
        log.warning("history worker (pid %d) exited with status %s", _child.pid, code)
        _child = None
    wait = min(RESTART_AFTER_S, settings.PROXMON_HISTORY_INTERVAL_S)
    if _started and time.monotonic() - _started < wait:
        return False
    _started = time.monotonic()
    try:
        # stdout carries nothing but the command's summary; its log goes to our stderr
        _child = subprocess.Popen(command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    except OSError as exc:
        log.error("history worker not started (%s); rolling up in the server process", exc)
        return False
    log.info("history worker started (pid %d)", _child.pid)
    return True


def running() -> bool:
    return _child is not None and _child.poll() is None


def stop() -> None:
    """Stop the child (SIGTERM: it finishes its chunk), and wait for it."""
    global _child, _started
    child, _child, _started = _child, None, 0.0
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("history worker (pid %d) did not stop in time; killed", child.pid)
        child.kill()
        child.wait()
