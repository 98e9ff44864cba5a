"""/ws/dashboard: tells open pages which hosts changed, so they refresh without a reload.

Events are coalesced for a second: a thousand agents sending every 30 s still cost a page at
most one refresh a second. Pages fall back to polling when this socket is down.
"""

from __future__ import annotations

import asyncio
import json

from channels.generic.websocket import AsyncWebsocketConsumer

from metrics.events import DASHBOARD_GROUP

FLUSH_S = 1.0


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.changed: set[str] = set()
        self.flusher: asyncio.Task | None = None
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        flusher = getattr(self, "flusher", None)  # not there if the socket closed before accept
        if flusher:
            flusher.cancel()
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        pass  # pages only listen

    async def host_changed(self, event: dict) -> None:
        self.changed.add(event["host"])
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(FLUSH_S)
        hosts, self.changed = sorted(self.changed), set()
        await self.send(text_data=json.dumps({"type": "changed", "hosts": hosts}))
