from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from alerts import sender
from alerts.models import Channel


class Command(BaseCommand):
    help = "Send a test message to a channel now, and say what its receiver answered."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the channel's name")

    def handle(self, name: str, **options) -> str:
        channel = Channel.objects.filter(name=name).first()
        if channel is None:
            raise CommandError(f"No channel named {name!r}.")
        result = sender.notify(
            channel.url,
            "proxmon: test message",
            f"A test of channel {name}, sent {timezone.now():%Y-%m-%d %H:%M:%S %Z}.",
            "test-" + timezone.now().strftime("%Y%m%dT%H%M%S%f"),
        )
        if not result.ok:
            raise CommandError(f"Channel {name} failed: {result.answer}")
        Channel.objects.filter(pk=channel.pk).update(last_ok_at=timezone.now())
        return f"Sent a test message to {name} ({channel.masked_url}): {result.answer}"
