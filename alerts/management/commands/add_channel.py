from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from alerts.models import Channel


class Command(BaseCommand):
    help = "Add (or replace) an alert channel: an Apprise URL, e.g. ntfys://ntfy.sh/topic."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the channel's name, e.g. ops-mail")
        parser.add_argument("url", help="an Apprise URL (docs/alerts.md); kept secret")
        parser.add_argument("--min-level", choices=["warning", "critical"], default="warning")
        parser.add_argument(
            "--tag", action="append", default=[], help="only hosts with this tag (repeatable)"
        )
        parser.add_argument(
            "--signing-secret",
            default="",
            help="webhooks: sign each body with HMAC-SHA256 (header X-Proxmon-Signature)",
        )

    def handle(
        self, name: str, url: str, min_level: str, tag: list[str], signing_secret: str, **options
    ) -> str:
        channel = Channel.objects.filter(name=name).first() or Channel(name=name)
        channel.url, channel.min_level = url.strip(), min_level
        channel.signing_secret = signing_secret
        channel.tags = " ".join(t.lower() for t in tag)
        try:
            channel.full_clean(validate_unique=False)
        except ValidationError as exc:
            words = [m for messages in exc.message_dict.values() for m in messages]
            raise CommandError(" ".join(words)) from None
        created = channel.pk is None
        channel.save()
        verb = "Added" if created else "Replaced"
        return f"{verb} channel {name}: {channel.masked_url} ({min_level} and worse)"
