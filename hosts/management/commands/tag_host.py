from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hosts.models import Host, validate_tags


class Command(BaseCommand):
    help = "Set a host's tags (replacing the ones it had); no tags: remove them all."

    def add_arguments(self, parser):
        parser.add_argument("host", help="the host's name")
        parser.add_argument("tags", nargs="*", help="e.g. prod ceph-a")

    def handle(self, host: str, tags: list[str], **options) -> str:
        target = Host.objects.named(host)
        if target is None:
            raise CommandError(f"No host named {host!r}.")
        tags = list(dict.fromkeys(t.lower() for t in tags))
        try:
            validate_tags(tags)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        target.tags = " ".join(tags)
        if len(target.tags) > 255:
            raise CommandError("Too many tags: at most 255 characters in all.")
        target.save(update_fields=["tags"])
        return f"Tagged {target.name}: {target.tags or '(no tags)'}"
