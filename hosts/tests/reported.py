"""A host's rows after a while of reporting, for the deletion tests (also run in a shell)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from hosts.models import Host
from metrics.models import Guest, Keyframe, LatestSample, MetricPoint, Sample

# what report() stores per host, for the counts in the tests
ROWS = {"Sample": 40, "Keyframe": 4, "MetricPoint": 20, "LatestSample": 2, "Guest": 1}


def report(host: Host, samples: int = 20) -> None:
    """Samples of two tiers compressed against two keyframes each, chart points, the latest
    samples and a guest: what ingest leaves behind."""
    start = timezone.now() - timedelta(hours=2)
    for tier in ("fast", "slow"):
        frames = [Keyframe.objects.create(host=host, tier=tier, data=b"k") for _ in range(2)]
        for i in range(samples):
            moment = start + timedelta(seconds=30 * i)
            Sample.objects.create(
                host=host, tier=tier, collected_at=moment, keyframe=frames[i % 2], body=b"s"
            )
            if tier == "fast":
                MetricPoint.objects.create(host=host, collected_at=moment, cpu_percent=1.0)
        LatestSample.objects.create(
            host=host, tier=tier, collected_at=moment, received_at=moment, body=b"l"
        )
    Guest.objects.create(host=host, vmid=100, type="qemu", name="web")
