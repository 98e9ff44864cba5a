from django.core.management.base import BaseCommand, CommandError

from hosts.models import Host


class Command(BaseCommand):
    help = (
        "Delete a host with everything stored about it (samples in chunks, as pruning does); "
        "its connected agent is disconnected."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the host's name")

    def handle(self, name: str, **options) -> str:
        host = Host.objects.named(name)
        if host is None:
            raise CommandError(f"No host named {name!r}.")
        total, _ = host.delete()
        return f"Deleted host {host.name} and {total - 1} rows stored about it."
