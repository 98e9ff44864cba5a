"""Tell open dashboards that a host changed (a sample arrived, it went online or offline)."""

from __future__ import annotations

from channels.layers import get_channel_layer

DASHBOARD_GROUP = "dashboard"


async def host_changed(name: str) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(DASHBOARD_GROUP, {"type": "host.changed", "host": name})
