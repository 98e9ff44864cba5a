from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hosts.models import Host


class Command(BaseCommand):
    help = "Register a Proxmox host and print its agent token (once) on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the host's name, as its agent joins (a DNS label)")

    def handle(self, name: str, **options) -> str:
        host = Host(name=name)
        try:
            host.full_clean()
        except ValidationError as exc:
            raise CommandError(" ".join(_messages(exc))) from None
        with transaction.atomic():
            token = host.issue_token()
        self.stderr.write(f"Added host {host.name}. Its token follows; it is not shown again.")
        return token


def _messages(exc: ValidationError) -> list[str]:
    # each sentence once, even where a field and the model say the same
    return list(dict.fromkeys(exc.messages))
