from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from metrics import liveness, sigterm


class Command(BaseCommand):
    help = (
        "Delete samples older than the retention window (PROXMON_RETENTION_HOURS) once they are "
        "rolled up into history, and history rows (an hour of 5-minute points or a day of hourly "
        "points each) whose whole span is past PROXMON_HISTORY_5M_DAYS / PROXMON_HISTORY_1H_DAYS, "
        "in small chunks so agents keep being served. For cron or a systemd timer; the running "
        "server also does this hourly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="HOURS",
            help="delete samples collected more than HOURS ago (default: the retention setting)",
        )

    def handle(self, older_than: int | None, **options) -> str:
        hours = settings.PROXMON_RETENTION_HOURS if older_than is None else older_than
        if hours < 1:
            raise CommandError("--older-than must be at least 1 hour.")
        with sigterm.caught() as stopping:
            deleted, rows = liveness.prune_counts(hours, should_stop=stopping)
        stopped = " (stopped early by SIGTERM)" if stopping() else ""
        return (
            f"Deleted {deleted} samples older than {hours} h and {rows} history rows "
            f"past their retention{stopped}."
        )
