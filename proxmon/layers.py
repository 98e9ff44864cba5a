"""The channel layer of a single server process (no REDIS_URL): channels' in-memory layer, made
to scale with the number of agents.

channels' `InMemoryChannelLayer` looks for expired messages and group memberships on every
`receive` and `group_send`, walking every channel with a waiting receiver and every group. Each
agent connection waits on a channel of its own and is in a group of its own, so with 5,000
agents each of those calls walked 10,000 entries: a join storm (three such calls per join) and
the dashboard notice of every stored sample spent the process's CPU there (py-spy: 19 % of all
samples at 5,000 agents; docs/benchmarks.md). Expiry is a clean-up, not a deadline: doing it at
most once a second keeps what it does and removes the quadratic cost.
"""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

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
