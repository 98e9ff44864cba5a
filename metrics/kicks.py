"""What metrics does when hosts says so: disconnect a host's live agent when its token is
revoked or the host is deleted, and delete a host's samples before the host goes."""

from __future__ import annotations

import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from hosts.models import Host
from hosts.signals import host_deleting, token_revoked
from metrics.consumers import group_name
from metrics.models import Keyframe, Kick, LatestSample, MetricPoint, Sample


@receiver(token_revoked)
def kick_revoked_agent(sender, host_id: int, **kwargs) -> None:
    kick(host_id)


@receiver(post_delete, sender=Host)
def kick_deleted_host(sender, instance: Host, **kwargs) -> None:
    kick(instance.pk)


def kick(host_id: int) -> None:
    """Close the host's live agent (4401), wherever it is connected.

    The channel layer reaches every connection of this process (in-memory layer) or of every
    process (Redis) at once. The Kick row reaches the rest: every server process polls for new
    kicks every PROXMON_KICK_POLL_S (metrics/connection_watch.py), so a revocation from a shell
    closes the agent within a second even on the in-memory layer. Inside a transaction (a host
    deleted in the admin) the row is written with it and the message sent once it commits.
    """
    Kick.objects.create(host_id=host_id)
    transaction.on_commit(lambda: _send(host_id))


def _send(host_id: int) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group_name(host_id), {"type": "agent.revoked"})


@receiver(host_deleting)
def delete_host_data(sender, host_id: int, **kwargs) -> dict[str, int]:
    """Delete the host's samples, chart points and keyframes, PROXMON_PRUNE_CHUNK rows at a time.

    Samples and latest samples first: each protects the keyframe it is compressed against. Outside a
    transaction (`manage.py delete_host`) each chunk commits on its own and the pruner's pause
    lets ingest in between, as in hourly pruning; in the admin it all runs in the delete's
    transaction, still a bounded number of rows per statement.
    """
    chunk = settings.PROXMON_PRUNE_CHUNK
    # a pause inside the admin's transaction would only hold the lock longer
    pause = 0 if transaction.get_connection().in_atomic_block else settings.PROXMON_PRUNE_PAUSE_S
    counts = {}
    for model in (Sample, MetricPoint, LatestSample, Keyframe):
        deleted = 0
        while True:
            with transaction.atomic():
                ids = list(
                    model.objects.filter(host_id=host_id)
                    .order_by()
                    .values_list("id", flat=True)[:chunk]
                )
                if not ids:
                    break
                count, _ = model.objects.filter(id__in=ids).delete()
            deleted += count
            if len(ids) == chunk and pause:
                time.sleep(pause)  # more to come: let waiting writers in first
        if deleted:
            counts[model._meta.label] = deleted
    return counts
