"""What other pages read of alerts."""

from __future__ import annotations

from django.db.models import Count

from alerts.models import Alert


def firing_by_host() -> dict[int, int]:
    """host id -> how many of its alerts fire now (the overview's bell)."""
    rows = (
        Alert.objects.filter(state=Alert.State.FIRING)
        .values("host_id")
        .annotate(n=Count("id"))
        .values_list("host_id", "n")
    )
    return dict(rows)
