from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from alerts.models import Silence
from hosts.models import Host


class Command(BaseCommand):
    help = "End every silence of a host now."

    def add_arguments(self, parser):
        parser.add_argument("host", help="the host's name")

    def handle(self, host: str, **options) -> str:
        target = Host.objects.named(host)
        if target is None:
            raise CommandError(f"No host named {host!r}.")
        ended = Silence.objects.active().filter(host=target).update(until=timezone.now())
        return f"Ended {ended} silence(s) of {target.name}"
