"""Alert state per (host, rule, subject), its history, channels, silences and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from hosts.models import Host, validate_tag_text

LEVEL_CHOICES = [("warning", "warning"), ("critical", "critical")]


class Alert(models.Model):
    """One condition of one host, under a key that never moves: (host, rule, subject)."""

    class State(models.TextChoices):
        PENDING = "pending"  # holds, waiting for its rule's delay
        FIRING = "firing"
        RESOLVED = "resolved"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=40)
    subject = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=8, choices=State.choices)
    level = models.CharField(max_length=8, choices=LEVEL_CHOICES)
    text = models.CharField(max_length=255)
    detail = models.CharField(max_length=255, blank=True, default="")
    since = models.DateTimeField()  # the condition holds since (this episode)
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Whether this firing episode was announced (an outbox message was written), and when last.
    notified = models.BooleanField(default=False)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    acked_by = models.CharField(max_length=150, blank=True, default="")
    # Flap detection: times the condition appeared or disappeared within the flap window.
    changes = models.JSONField(default=list, blank=True)
    flapping = models.BooleanField(default=False)
    clear_since = models.DateTimeField(null=True, blank=True)  # gone, but held as firing
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "rule", "subject"], name="alert_once_per_key"),
        ]
        indexes = [
            # /alerts/ and overview marks: alerts in a state (firing now), newest first
            models.Index(fields=["state", "since"], name="alert_state_since"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.rule} {self.subject}".strip()


class Transition(models.Model):
    """History: one row per state change of an alert, kept PROXMON_ALERT_HISTORY_DAYS."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="transitions")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    kind = models.CharField(max_length=12)  # pending, fired, resolved, cleared, escalated, ...
    state = models.CharField(max_length=8)
    level = models.CharField(max_length=8)
    text = models.CharField(max_length=255)

    class Meta:
        indexes = [
            # /alerts/ recent transitions, and pruning by age
            models.Index(fields=["at"], name="transition_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} {self.text}"


def validate_apprise_url(url: str) -> None:
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        scheme = urlsplit(url).scheme or "(none)"
        raise ValidationError(f"Apprise does not understand this URL (scheme {scheme}).")


def mask_url(url: str) -> str:
    """What may be shown of a channel's URL: the scheme and the server, never the secrets.

    Apprise's privacy form hides passwords and tokens; paths and queries (where webhooks keep
    their tokens) are cut off whole.
    """
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    shown = plugin.url(privacy=True) if plugin is not None else url
    parts = urlsplit(shown)
    netloc = parts.netloc if plugin is not None else parts.netloc.rpartition("@")[2]
    rest = "/…" if (parts.path.strip("/") or urlsplit(url).query) else ""
    return f"{parts.scheme}://{netloc}{rest}"


class Channel(models.Model):
    """Where messages go: an Apprise URL (mail, ntfy, Gotify, Telegram, Slack, webhook ...)."""

    name = models.CharField(max_length=63, unique=True)
    # Holds secrets: never logged, shown masked (mask_url) once saved.
    url = models.TextField(validators=[validate_apprise_url])
    min_level = models.CharField(max_length=8, choices=LEVEL_CHOICES, default="warning")
    tags = models.CharField(
        max_length=255,
        blank=True,
        default="",
        validators=[validate_tag_text],
        help_text="Only hosts with one of these tags; empty: all hosts.",
    )
    enabled = models.BooleanField(default=True)
    # Optional: webhook requests carry X-Proxmon-Signature, an HMAC-SHA256 of the body with it.
    signing_secret = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")  # without the URL

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()

    @property
    def failing(self) -> bool:
        """Its last attempt failed (nothing has been delivered since)."""
        return self.last_error_at is not None and (
            self.last_ok_at is None or self.last_error_at > self.last_ok_at
        )

    def wants(self, host_tags: list[str]) -> bool:
        tags = self.tag_list
        return not tags or bool(set(tags) & set(host_tags))


class Delivery(models.Model):
    """The outbox: one message for one channel, written in the transaction of its transitions.

    Kept after delivery as the channel's delivery log (what was sent, when, the answer).
    """

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # idempotency key
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    host = models.ForeignKey(Host, on_delete=models.SET_NULL, null=True, related_name="+")
    title = models.CharField(max_length=255)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            # the sender: pending deliveries that are due, oldest first
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
            # the delivery log of a channel, newest first
            models.Index(fields=["channel", "created_at"], name="delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.title} -> {self.channel_id} ({self.state})"


class SilenceQuerySet(models.QuerySet["Silence"]):
    def active(self, now: datetime | None = None) -> models.QuerySet:
        return self.filter(until__gt=now or timezone.now())


class Silence(models.Model):
    """No messages about a host until `until` (maintenance); its alerts still show, marked."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="silences")
    created_at = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")

    objects = SilenceQuerySet.as_manager()

    class Meta:
        indexes = [
            # is this host silenced now: silences of a host ending after now
            models.Index(fields=["host", "until"], name="silence_host_until"),
        ]

    def __str__(self) -> str:
        return f"{self.host} silenced until {self.until:%Y-%m-%d %H:%M}"


class Lease(models.Model):
    """A named lease: the one server process that holds it does the job (sending alerts)."""

    name = models.CharField(max_length=40, primary_key=True)
    holder = models.UUIDField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at}"

    @classmethod
    def acquire(cls, name: str, holder: uuid.UUID, seconds: float, now: datetime) -> bool:
        """Take or renew the lease (compare-and-set); True if `holder` holds it now."""
        until = now + timedelta(seconds=seconds)
        with transaction.atomic():
            mine_or_expired = Q(holder=holder) | Q(expires_at__lt=now)
            if cls.objects.filter(mine_or_expired, name=name).update(
                holder=holder, expires_at=until
            ):
                return True
            if cls.objects.filter(name=name).exists():
                return False
            try:
                with transaction.atomic():
                    cls.objects.create(name=name, holder=holder, expires_at=until)
            except IntegrityError:  # another process created it first
                return False
            return True

    @classmethod
    def release(cls, name: str, holder: uuid.UUID) -> None:
        cls.objects.filter(name=name, holder=holder).delete()
