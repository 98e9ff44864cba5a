import logging
import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from metrics import forecast, rollups, sigterm

log = logging.getLogger("proxmon.history")


class Command(BaseCommand):
    help = (
        "Roll the fast samples stored since the last pass up into history points (5-minute "
        "and hourly) and say how many. With --every, keep doing so every SECONDS and refresh "
        "the forecasts hourly: the running server starts it like that as its history worker "
        "(docs/history.md). SIGTERM stops it between two chunks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="run a pass every SECONDS and the forecasts hourly, until SIGTERM",
        )
        parser.add_argument(
            "--parent",
            type=int,
            metavar="PID",
            help="with --every: exit when the process PID is no longer this one's parent",
        )

    def handle(self, every: float | None, parent: int | None, **options) -> str:
        if every is not None and every <= 0:
            raise CommandError("--every must be more than 0 seconds.")
        with sigterm.caught() as stopping:
            if every is None:
                done = rollups.roll_up(should_stop=stopping)
                stopped = " (stopped early by SIGTERM)" if stopping() else ""
                return f"Rolled up {done} samples into history{stopped}."
            self.loop(every, parent, lambda: stopping() or orphaned(parent))
            return ""

    def loop(self, every: float, parent: int | None, should_stop) -> None:
        next_forecast = 0.0
        while not should_stop():
            began = time.monotonic()
            try:
                close_old_connections()
                rollups.roll_up(should_stop=should_stop)
                if time.monotonic() >= next_forecast:
                    forecast.refresh(should_stop=should_stop)
                    next_forecast = time.monotonic() + forecast.EVERY_S
            except Exception:
                log.exception("history round failed; trying again")
            finally:
                connection.close()
            while not should_stop() and time.monotonic() - began < every:
                time.sleep(min(1.0, every))


def orphaned(parent: int | None) -> bool:
    """The server that started this worker is gone (its children are handed to another)."""
    return parent is not None and os.getppid() != parent
