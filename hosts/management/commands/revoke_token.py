from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hosts.models import Host


class Command(BaseCommand):
    help = (
        "Issue a new token for a host and print it (once) on the last line. The old token "
        "stops working at once; a connected agent is disconnected."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the host's name")

    def handle(self, name: str, **options) -> str:
        host = Host.objects.named(name)
        if host is None:
            raise CommandError(f"No host named {name!r}.")
        with transaction.atomic():
            token = host.revoke_token()
        self.stderr.write(f"Revoked the token of {host.name}. The new token follows.")
        return token
