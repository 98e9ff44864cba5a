from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from alerts.models import Silence
from hosts.models import Host


class Command(BaseCommand):
    help = "Silence a host's alerts for N minutes (before a reboot); they still show, marked."

    def add_arguments(self, parser):
        parser.add_argument("host", help="the host's name")
        parser.add_argument("--minutes", type=int, required=True)
        parser.add_argument("--reason", default="", help="shown on the pages")

    def handle(self, host: str, minutes: int, reason: str, **options) -> str:
        target = Host.objects.named(host)
        if target is None:
            raise CommandError(f"No host named {host!r}.")
        if not 1 <= minutes <= 525600:
            raise CommandError("--minutes must be between 1 and 525600 (a year).")
        until = timezone.now() + timedelta(minutes=minutes)
        Silence.objects.create(host=target, until=until, reason=reason[:255], created_by="cli")
        return f"Silenced {target.name} until {timezone.localtime(until):%Y-%m-%d %H:%M %Z}"
