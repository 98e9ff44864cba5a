"""The channel layers proxmon runs on, each channels' own with one fault mended.

Single process (no REDIS_URL): `InMemoryChannelLayer`, made to scale with the number of agents.
channels' `InMemoryChannelLayer` looks for expired messages and group memberships on every
`receive` and `group_send`, walking every channel with a waiting receiver and every group. Each
agent connection waits on a channel of its own and is in a group of its own, so with 5,000
agents each of those calls walked 10,000 entries: a join storm (three such calls per join) and
the dashboard notice of every stored sample spent the process's CPU there (py-spy: 19 % of all
samples at 5,000 agents; docs/benchmarks.md). Expiry is a clean-up, not a deadline: doing it at
most once a second keeps what it does and removes the quadratic cost.

Several processes (REDIS_URL): `RedisChannelLayer`, whose commands do not lose a cancellation.
redis-py sends every command through `asyncio.wait_for` when a socket timeout is set (it is:
proxmon/settings.py), and on Python 3.11 `wait_for` swallows a cancellation that arrives just
as the command has been written (CPython gh-86296, mended in 3.12; redis-py issue 2028). The
command then goes on as if nothing happened. channels_redis receives with a loop of 5 s
BZPOPMIN commands that only a message or a cancellation ends; the consumer of a closed agent
connection cancels its receive and waits for it, so a lost cancellation left that receive
polling Redis forever and the consumer never finished: a leaked task and pool connection per
unlucky disconnect (found as a test suite hanging at an event loop's close; of 120 receives
cancelled within their first 40 turns of the event loop, 16 to 18 went on:
proxmon/tests/test_layers.py).
A lost cancellation still counts in `Task.cancelling()`: a send that returns with more
cancellation requests than it started with raises CancelledError, as it would have on 3.12,
and drops its connection, whose reply nobody will read (what redis-py does when a send is
interrupted).
"""

from __future__ import annotations

import asyncio
import functools
import time

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer

CLEAN_EVERY_S = 1.0


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at < CLEAN_EVERY_S:
            return
        self._cleaned_at = now
        super()._clean_expired()


class _KeepsCancellation:
    """For redis-py's asyncio connection classes: a cancellation lost in a send is raised."""

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        task = asyncio.current_task()
        requested = task.cancelling() if task is not None else 0
        # a mixin: the class it is mixed into (redis-py's Connection) has these
        await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if task is not None and task.cancelling() > requested:
            await self.disconnect(nowait=True)  # type: ignore[attr-defined]
            raise asyncio.CancelledError("cancelled while sending a command to Redis")


@functools.cache
def _keeping_cancellation(connection_class: type) -> type:
    return type(connection_class.__name__, (_KeepsCancellation, connection_class), {})


class RedisChannelLayer(ChannelsRedisChannelLayer):
    def create_pool(self, index: int):
        pool = super().create_pool(index)
        # plain, TLS or unix socket: whichever class the address asked for, with the mending
        pool.connection_class = _keeping_cancellation(pool.connection_class)
        return pool
