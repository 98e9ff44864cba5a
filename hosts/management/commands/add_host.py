from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hosts import onboarding
from hosts.models import Host


class Command(BaseCommand):
    help = (
        "Register a Proxmox host; print the block that installs its agent (paste it into a "
        "root shell there), and its token (once) alone on the last line."
    )

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
        web = onboarding.web_url()
        self.stdout.write(onboarding.install_block(web, onboarding.agent_url(), host.name, token))
        self.stderr.write(
            f"Added host {host.name}. To install its agent, paste the block above into a root "
            f"shell on {host.name}. Its token, on the last line, is not shown again."
        )
        if not settings.PROXMON_PUBLIC_URL:
            self.stderr.write(
                f"PROXMON_PUBLIC_URL is not set: the block uses {web}, a placeholder. Replace "
                "it in the block with the address the host reaches proxmon at, and set "
                "PROXMON_PUBLIC_URL to that address (e.g. https://monitor.example.com) so the "
                "next block has it."
            )
        return token


def _messages(exc: ValidationError) -> list[str]:
    # each sentence once, even where a field and the model say the same
    return list(dict.fromkeys(exc.messages))
