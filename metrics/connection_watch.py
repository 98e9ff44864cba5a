"""One watch over all agent connections of a process: is each still its host's, with its token?

What no channel-layer message reports (a revoke from a shell without a shared channel layer,
another process that took the host over, a sweep that took the host offline while this process
stalled) shows in the host rows. They are read once every PROXMON_CONNECTION_CHECK_S for all
connections of the process, 500 hosts per query, by one task on the event loop. A check per
connection would be 50 queries a second for 1,000 agents, arriving in bursts (agents that
joined together check together) that every sample of the burst waits behind.

Revocations and deletions do not wait for that round: they write a Kick row (metrics/kicks.py),
and the same task's poll, one query on the primary key every PROXMON_KICK_POLL_S, re-reads at
once the host rows of the kicked hosts this process holds connections of.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from datetime import timedelta
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from hosts.models import Host
from metrics import liveness
from metrics.models import Kick

CHUNK = 500


class Checked(Protocol):
    host_id: int | None
    token_hash: str
    connection_id: uuid.UUID

    async def verdict(self, verdict: str) -> None: ...


class Checker:
    def __init__(self) -> None:
        self.connections: dict[uuid.UUID, Checked] = {}
        self.task: asyncio.Task | None = None
        self.rounds = 0
        self.last_kick: int | None = None  # the newest Kick row seen
        self.kick_rounds = 0  # polls that found kicks and judged their connections

    def add(self, connection: Checked) -> None:
        self.connections[connection.connection_id] = connection
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def remove(self, connection: Checked) -> None:
        self.connections.pop(connection.connection_id, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self.last_kick = None
        next_check = loop.time() + settings.PROXMON_CONNECTION_CHECK_S
        while self.connections:
            poll = min(settings.PROXMON_KICK_POLL_S, settings.PROXMON_CONNECTION_CHECK_S)
            await asyncio.sleep(poll)
            if loop.time() >= next_check:
                next_check = loop.time() + settings.PROXMON_CONNECTION_CHECK_S
                await self._check(None)
                self.rounds += 1
                continue
            kicked = await database_sync_to_async(self._new_kicks)()
            if kicked:
                await self._check(kicked)
                self.kick_rounds += 1

    async def _check(self, hosts: set[int] | None) -> None:
        """Judge the connections of these hosts (None: all) and close those not ours."""
        joined = [
            (c.host_id, c.token_hash, c.connection_id)
            for c in self.connections.values()
            if c.host_id is not None and (hosts is None or c.host_id in hosts)
        ]
        if not joined:
            return
        verdicts = await database_sync_to_async(judge)(joined)
        for connection_id, verdict in verdicts.items():
            connection = self.connections.get(connection_id)
            if connection is not None and verdict != "ours":
                await connection.verdict(verdict)

    def _new_kicks(self) -> set[int]:
        """Hosts kicked since the last poll (one query on the primary key)."""
        if self.last_kick is None:
            # Start a minute back: a kick written while a connection was joining is judged
            # again (harmless: judge() compares the token), not missed.
            since = timezone.now() - timedelta(minutes=1)
            self.last_kick = (
                Kick.objects.filter(created_at__lt=since).aggregate(last=Max("id"))["last"] or 0
            )
        rows = list(Kick.objects.filter(id__gt=self.last_kick).values_list("id", "host_id"))
        if rows:
            self.last_kick = max(pk for pk, _ in rows)
        return {host_id for _, host_id in rows}


def judge(joined: list[tuple[int, str, uuid.UUID]]) -> dict[uuid.UUID, str]:
    """Per connection: "ours", "revoked" (token changed, host deleted) or "replaced"."""
    rows: dict[int, tuple[str, uuid.UUID | None]] = {}
    ids = [host_id for host_id, _, _ in joined]
    for first in range(0, len(ids), CHUNK):
        rows.update(
            (pk, (token_hash, connection_id))
            for pk, token_hash, connection_id in Host.objects.filter(
                pk__in=ids[first : first + CHUNK]
            ).values_list("pk", "token_hash", "connection_id")
        )
    verdicts = {}
    for host_id, token_hash, connection_id in joined:
        row = rows.get(host_id)
        if row is None or row[0] != token_hash:
            verdicts[connection_id] = "revoked"
        elif row[1] is None:
            # A sweep took the host offline while this process stalled: claim it back.
            Host.objects.reclaim(host_id, connection_id, liveness.PROCESS_ID)
            verdicts[connection_id] = "ours"
        else:
            verdicts[connection_id] = "ours" if row[1] == connection_id else "replaced"
    return verdicts


_checkers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Checker] = (
    weakref.WeakKeyDictionary()
)


def checker() -> Checker:
    """The checker of the running event loop (a server process has one loop)."""
    loop = asyncio.get_running_loop()
    current = _checkers.get(loop)
    if current is None:
        current = _checkers[loop] = Checker()
    return current
