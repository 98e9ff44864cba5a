"""Young collections on a timer while agents join in numbers (`manage.py serve` ticks it).

CPython 3.11 collects its young generation once allocations minus deallocations reach the
threshold (50,000 here, metrics/management/commands/serve.py), and counts deallocations of
every generation: when objects promoted earlier die (samples that waited for the writer), the
count falls while the young generation keeps growing. While thousands of agents join and send
their first samples at once, the young generation so holds hundreds of thousands of objects
before it is collected (100-190 ms, freeing nothing), and the middle one whatever survived
twenty of those (0.5 s). Collected every half second instead, each collection walks only
what came since: the 5,000-agent start drained in 59.7 s with this and 65-69 s without, the
first 30 s stored 238 samples a second instead of 144-190 (docs/benchmarks.md, "The start's
collections").

Only in a storm: with the load even, a young collection every half second added stalls that
doubled the steady ack p99 (209 ms against 67-73 ms). A storm is STORM_JOINS joins within
STORM_WINDOW_S; the timer collects until AFTER_STORM_S after the last one, the time a start's
first samples take to be stored. Everything here runs on the event loop's thread.
"""

from __future__ import annotations

import gc
import math
import time
from collections import deque
from collections.abc import Callable

EVERY_S = 0.5
STORM_JOINS = 20
STORM_WINDOW_S = 5.0
AFTER_STORM_S = 60.0


class YoungCollections:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.joins: deque[float] = deque(maxlen=STORM_JOINS)
        self.until = -math.inf

    def joined(self) -> None:
        """An agent joined (metrics/consumers.py)."""
        now = self.clock()
        self.joins.append(now)
        if len(self.joins) == STORM_JOINS and now - self.joins[0] <= STORM_WINDOW_S:
            self.until = now + AFTER_STORM_S

    def tick(self) -> bool:
        """Collect the young generation if a storm was recent; whether it did."""
        if self.clock() >= self.until:
            return False
        gc.collect(0)
        return True


young = YoungCollections()
