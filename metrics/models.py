"""Samples as the agents sent them, and what is derived from them at ingest."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from hosts.models import Host
from metrics import codec

TIERS = ("fast", "medium", "slow")


class Tier(models.TextChoices):
    FAST = "fast"
    MEDIUM = "medium"
    SLOW = "slow"


class PrunableQuerySet(models.QuerySet):
    def prune(
        self,
        before: datetime,
        chunk: int = 1000,
        should_stop=lambda: False,
        pause: float | None = None,
    ) -> int:
        """Delete the rows `expired(before)` selects, `chunk` rows per transaction.

        Small transactions keep SQLite's write lock short, and after each one the pruner
        pauses (`pause`, default PROXMON_PRUNE_PAUSE_S): a writer waiting for the lock sleeps
        in SQLite's busy handler for up to 100 ms at a time, and a pruner that takes the lock
        again at once can starve it for seconds (1.5 s of ingest stall measured while pruning
        24 h x 1,000 hosts, docs/benchmarks.md). The pause also leaves the GIL to the server.
        Returns how many were deleted; stops early when `should_stop()` says so.
        """
        pause = settings.PROXMON_PRUNE_PAUSE_S if pause is None else pause
        deleted = 0
        while not should_stop():
            with transaction.atomic():
                ids = list(self.expired(before).order_by().values_list("id", flat=True)[:chunk])
                if not ids:
                    break
                count, _ = self.model._default_manager.filter(id__in=ids).delete()
            deleted += count
            if len(ids) == chunk and pause:
                time.sleep(pause)  # more to come: let waiting writers in first
        return deleted

    def expired(self, before: datetime) -> models.QuerySet:
        return self.filter(collected_at__lt=before)


class KeyframeQuerySet(PrunableQuerySet):
    def expired(self, before: datetime) -> models.QuerySet:
        """Keyframes older than `before` that no stored sample, and no host's latest sample of
        a tier, is compressed against (the latest outlives retention when a host goes away)."""
        return (
            self.filter(created_at__lt=before)
            .exclude(models.Exists(Sample.objects.filter(keyframe=models.OuterRef("pk"))))
            .exclude(models.Exists(LatestSample.objects.filter(keyframe=models.OuterRef("pk"))))
        )


class Keyframe(models.Model):
    """A sample's JSON text that later samples of its host and tier are compressed against."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    tier = models.CharField(max_length=6, choices=Tier.choices)
    created_at = models.DateTimeField(default=timezone.now)
    data = models.BinaryField()  # zstd of the JSON text, without dictionary

    objects = KeyframeQuerySet.as_manager()

    class Meta:
        indexes = [
            # ingest: the newest keyframe of a host and tier
            models.Index(fields=["host", "tier", "created_at"], name="keyframe_current"),
            # retention: keyframes older than the window that no sample needs any more
            models.Index(fields=["created_at"], name="keyframe_created_at"),
        ]

    def __str__(self) -> str:
        return f"keyframe {self.tier} of {self.host_id} from {self.created_at:%Y-%m-%d %H:%M}"


class Sample(models.Model):
    # no index of its own: the unique constraint's index starts with the host
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_index=False)
    tier = models.CharField(max_length=6, choices=Tier.choices)
    collected_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # The sample frame exactly as the agent sent it (before issue 11: {"data", "errors"}),
    # compressed against the keyframe (metrics/codec.py); read it as `sample.payload`.
    keyframe = models.ForeignKey(Keyframe, on_delete=models.PROTECT, null=True, related_name="+")
    body = models.BinaryField()

    objects = PrunableQuerySet.as_manager()

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

    @property
    def payload(self) -> dict:
        keyframe = self.keyframe
        return codec.decode(bytes(self.body), bytes(keyframe.data) if keyframe else None)


class LatestSampleManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        # with its keyframe in the same query: `data` then reads nothing (async callers too)
        return super().get_queryset().select_related("keyframe")


class LatestSample(models.Model):
    """The newest sample per host and tier, so pages never scan the sample history."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="latest_samples")
    tier = models.CharField(max_length=6, choices=Tier.choices)
    collected_at = models.DateTimeField()
    received_at = models.DateTimeField()
    # the sample frame as the agent sent it, as stored in its Sample row: compressed against
    # `keyframe` (rows written before issue 11's hot-path work have none and were compressed
    # alone), so ingest compresses once
    keyframe = models.ForeignKey(Keyframe, on_delete=models.PROTECT, null=True, related_name="+")
    body = models.BinaryField()
    errors = models.JSONField(default=dict)

    objects = LatestSampleManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "tier"], name="latest_once_per_host_tier"),
        ]

    def __str__(self) -> str:
        return f"latest {self.tier} of {self.host_id}"

    @property
    def data(self) -> dict:
        keyframe = self.keyframe
        return codec.decode(bytes(self.body), bytes(keyframe.data) if keyframe else None)["data"]


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
    # From the fast tier, but only what rarely changes: rewriting fifty rows every 30 s per
    # host for CPU and memory use would cost most of the ingest time. The changing numbers
    # (CPU, memory use, uptime) are read from the latest fast sample instead.
    cpus = models.FloatField(null=True)
    maxmem = models.BigIntegerField(null=True)
    # configuration (medium tier)
    cores = models.PositiveIntegerField(null=True)
    memory = models.BigIntegerField(null=True)
    ips = models.JSONField(default=list)
    macs = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    os = models.CharField(max_length=64, blank=True)
    # " name vmid ip ... mac ... #tag ... ", lowercase and space-delimited, so the search can
    # match an address prefix (" 10.0.4.") or a whole tag (" #web ") with one LIKE.
    search_text = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "vmid"], name="guest_once_per_host_vmid"),
        ]
        indexes = [
            # search by VMID: Guest.objects.filter(vmid=...) across all hosts
            models.Index(fields=["vmid"], name="guest_vmid"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.vmid} on {self.host_id}"

    def index_text(self) -> str:
        parts = [self.name, str(self.vmid), *self.ips, *self.macs, *(f"#{t}" for t in self.tags)]
        return " " + " ".join(p.lower() for p in parts if p) + " "


class ServerProcess(models.Model):
    """A running server process; its heartbeat tells whether its agent connections are real."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class HostSummary(models.Model):
    """The compact facts of each tier's latest sample (metrics.summary), one row per host.

    What the overview and the status rules read for a thousand hosts at once; the full
    latest sample (raw command output included) stays in LatestSample for the detail page.
    """

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    facts = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"summary of {self.host_id}"


class MetricPoint(models.Model):
    """CPU, memory and load of one fast sample, for the host charts without reading payloads."""

    # no index of its own: the unique constraint's index starts with the host
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_index=False)
    collected_at = models.DateTimeField()
    cpu_percent = models.FloatField(null=True)
    mem_used = models.BigIntegerField(null=True)
    mem_total = models.BigIntegerField(null=True)
    load1 = models.FloatField(null=True)
    load5 = models.FloatField(null=True)
    load15 = models.FloatField(null=True)

    objects = PrunableQuerySet.as_manager()

    class Meta:
        constraints = [
            # one point per fast sample; its index serves "points of a host since T" (charts)
            models.UniqueConstraint(fields=["host", "collected_at"], name="point_once_per_time"),
        ]
        indexes = [
            # retention: pruned with the samples
            models.Index(fields=["collected_at"], name="point_collected_at"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.collected_at:%Y-%m-%dT%H:%M:%SZ}"


class KickQuerySet(PrunableQuerySet):
    def expired(self, before: datetime) -> models.QuerySet:
        return self.filter(created_at__lt=before)


class Kick(models.Model):
    """A host whose live agent must go (token revoked, host deleted), for every server process.

    Each process polls for new rows every PROXMON_KICK_POLL_S (metrics/connection_watch.py): a
    revocation made where the channel layer does not reach (a shell on the in-memory layer)
    closes the agent within a second. Not a foreign key: the row outlives a deleted host.
    """

    host_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = KickQuerySet.as_manager()

    class Meta:
        indexes = [
            # retention: Kick.objects.prune() finds kicks older than an hour (the poll reads
            # new kicks by primary key)
            models.Index(fields=["created_at"], name="kick_created_at"),
        ]

    def __str__(self) -> str:
        return f"kick {self.host_id} at {self.created_at:%Y-%m-%dT%H:%M:%SZ}"


class Rollup(models.Model):
    """A host's history at one resolution: one row per host, step and span (metrics.rollups).

    `step` is 300 (5-minute points, kept PROXMON_HISTORY_5M_DAYS; a row holds an hour of them)
    or 3600 (hourly points, kept PROXMON_HISTORY_1H_DAYS; a row holds a UTC day of them);
    `start` the span's first second (epoch seconds, a multiple of the span: an integer is a
    third of a datetime's size in SQLite). `data` holds the host's, pools' and storages'
    aggregates, `guests` (hourly only) the guests', columnar, in the format of
    metrics/rollupformat.py. Before migration 0010 a row held one point.
    """

    # no index of its own: the unique constraint's index starts with the host
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_index=False)
    step = models.PositiveIntegerField()
    start = models.BigIntegerField()
    data = models.BinaryField()  # zstd of orjson
    guests = models.BinaryField(null=True)  # zstd of orjson; hourly rows only

    class Meta:
        constraints = [
            # one row per span; its index serves the charts (a host's rows of one step since
            # T) and retention (per host: rows of one step before T)
            models.UniqueConstraint(fields=["host", "step", "start"], name="rollup_once_per_span"),
        ]

    def __str__(self) -> str:
        return f"{self.host_id} {self.step} s from {self.start}"


class RollupState(models.Model):
    """How far the rollup pass has read the samples (by id), one row (pk 1)."""

    last_id = models.BigIntegerField(default=0)  # every sample with id <= this is rolled up
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"rolled up to sample {self.last_id}"


class Forecast(models.Model):
    """When each pool and storage of a host will be full, from its history (metrics.forecast).

    Written by the background job (hourly), read by the pages and the status rules as
    facts["forecast"]; kept apart from HostSummary, which ingest rewrites with every sample.
    """

    host = models.OneToOneField(
        Host, on_delete=models.CASCADE, primary_key=True, related_name="forecast"
    )
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"forecast of {self.host_id}"
