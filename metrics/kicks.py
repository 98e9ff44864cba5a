"""Disconnect a host's live agent when its token is revoked or the host is deleted."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models.signals import post_delete
from django.dispatch import receiver

from hosts.models import Host
from hosts.signals import token_revoked
from metrics.consumers import group_name


@receiver(token_revoked)
def kick_revoked_agent(sender, host_id: int, **kwargs) -> None:
    _kick(host_id)


@receiver(post_delete, sender=Host)
def kick_deleted_host(sender, instance: Host, **kwargs) -> None:
    _kick(instance.pk)


def _kick(host_id: int) -> None:
    # Reaches every connection through the channel layer: all of this process's (in-memory
    # layer) or of every process (Redis). Connections it cannot reach find out within
    # PROXMON_CONNECTION_CHECK_S by reading the host row.
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group_name(host_id), {"type": "agent.revoked"})
