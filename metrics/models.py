"""Samples as the agents sent them, and what is derived from them at ingest."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

from hosts.models import Host

TIERS = ("fast", "medium", "slow")


class Tier(models.TextChoices):
    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"


class SampleQuerySet(models.QuerySet["Sample"]):
    def prune(self, before: datetime, chunk: int = 1000, should_stop=lambda: False) -> int:
        """Delete samples collected before `before`, `chunk` rows per transaction.

        Small transactions keep SQLite's write lock short, so ingest never waits long.
        Returns how many were deleted; stops early when `should_stop()` says so.
        """
        deleted = 0
        while not should_stop():
            with transaction.atomic():
                ids = list(
                    self.filter(collected_at__lt=before)
                    .order_by()
                    .values_list("id", flat=True)[:chunk]
                )
                if not ids:
                    break
                count, _ = Sample.objects.filter(id__in=ids).delete()
            deleted += count
        return deleted


class Sample(models.Model):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    tier = models.CharField(max_length=6, choices=Tier.choices)
    collected_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # {"data": {...}, "errors": {...}} exactly as the agent sent them.
    payload = models.JSONField()

    objects = SampleQuerySet.as_manager()

    class Meta:
        constraints = [
            # One sample per (host, tier, collected_at): a resent sample is stored once. Its
            # index also serves "the last N samples of a host and tier" (charts).
            models.UniqueConstraint(
                fields=["host", "tier", "collected_at"], name="sample_once_per_host_tier_time"
            ),
        ]
        indexes = [
            # retention: Sample.objects.prune() finds samples older than the window.
            models.Index(fields=["collected_at"], name="sample_collected_at"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.tier} {self.collected_at:%Y-%m-%dT%H:%M:%SZ}"


class LatestSample(models.Model):
    """The newest sample per host and tier, so pages never scan the sample history."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="latest_samples")
    tier = models.CharField(max_length=6, choices=Tier.choices)
    collected_at = models.DateTimeField()
    received_at = models.DateTimeField()
    data = models.JSONField(default=dict)
    errors = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "tier"], name="latest_once_per_host_tier"),
        ]

    def __str__(self) -> str:
        return f"latest {self.tier} of {self.host_id}"


class Guest(models.Model):
    """The guest index: every VM and container of every host, kept current at ingest."""

    class Type(models.TextChoices):
        QEMU = "qemu"
        LXC = "lxc"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="guests")
    vmid = models.PositiveIntegerField()
    type = models.CharField(max_length=4, choices=Type.choices)
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, blank=True)
    template = models.BooleanField(default=False)
    # runtime (fast tier)
    uptime_s = models.BigIntegerField(null=True)
    cpu_percent = models.FloatField(null=True)
    cpus = models.FloatField(null=True)
    mem = models.BigIntegerField(null=True)
    maxmem = models.BigIntegerField(null=True)
    # configuration (medium tier)
    cores = models.PositiveIntegerField(null=True)
    memory = models.BigIntegerField(null=True)
    ips = models.JSONField(default=list)
    macs = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    os = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "vmid"], name="guest_once_per_host_vmid"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.vmid} on {self.host_id}"


class ServerProcess(models.Model):
    """A running server process; its heartbeat tells whether its agent connections are real."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"
