"""Group commit: the samples of all agent connections of a process, stored in shared transactions.

A connection hands its sample to `store()` and waits for the outcome; whoever is first starts
a drain task on the event loop that takes everything queued (up to BATCH samples) to the
database thread in one `each_in_one_transaction` call: one transaction, one commit (one fsync
on SQLite), one hop between the event loop and the thread, for all of them. While that batch
is stored, the next one queues up, so the batches grow with the load and a lone sample waits
for nobody.
The task ends when the queue is empty.

`slots` bounds how many big frames the consumers hold decoded at once (see SLOTS).

Each sample still gets its own outcome (a failing step takes none of the others with it): its
connection acks, nacks or closes exactly as it would have alone, and acks only after the commit.

The small writes of joining and leaving agents (`call`: a host going online or offline) travel
in the same batches, as steps of the same transaction. Alone, each was a commit of its own on the
same database thread: a thousand agents rejoining after a restart queued a thousand commits
behind each other and behind the samples, and joins waited longer than the join deadline.
They go **ahead of the samples** queued before them: at the start of 5,000 agents, 15,000
first samples were queued, and a join behind them got its `joined` after more than the
agent's 60 s, so the agent reconnected and sent its samples again (docs/benchmarks.md,
"Issue 11: 5,000 agents"). Their order among themselves is kept; a leave (`disconnect`) that
overtakes its connection's last samples changes nothing they store (it is keyed by the
connection, and ingest does not touch a host's connection state).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

from metrics import signals
from metrics.ingest import Pending, Stored, ingest
from metrics.memo import prefetch

# Samples per transaction at most: enough to share the commit, short enough that SQLite's write
# lock is not held for long (other processes, the pruner and joins wait for it).
BATCH = 64
# Big frames decoded and not yet stored, at most (consumers wait for a slot before decoding):
# a few batches, so the writer never runs dry, and a bound on memory when it cannot keep up.
SLOTS = 4 * BATCH


def ingest_many(pending: list[Pending]) -> list[Stored | Exception]:
    """Store several samples in one transaction; per sample its Stored or what it raised."""
    steps: list[Callable[[], Any]] = [partial(ingest_pending, item) for item in pending]
    return each_in_one_transaction(steps, _prefetch(steps))


def _prefetch(steps: list[Callable[[], Any]]) -> Callable[[], None] | None:
    """What the memos of the samples among `steps` lack, read at once (metrics/memo.py)."""
    pending = [
        step.args[0]
        for step in steps
        if isinstance(step, partial) and step.func is ingest_pending and step.args[0].memo
    ]
    return partial(prefetch, pending) if pending else None


def each_in_one_transaction(
    steps: list[Callable[[], Any]], prepare: Callable[[], None] | None = None
) -> list[Any]:
    """Run `steps` in one transaction; per step its result, or the exception it raised.

    `prepare` runs first, in the same transaction: reads that spare the steps their own. It
    only saves work, so if anything fails the steps run again without it.

    A step that raises (TokenRevoked, a database error) takes none of the others with it: its
    exception is returned in its place and the others still commit. If the commit itself fails,
    nothing is stored: it raises, or for a lone step is returned as that step's result.

    Failures are rare, so the steps first run without a savepoint each (two statements fewer
    per step, a round trip each on PostgreSQL); only if one raises is that attempt rolled back
    whole and, unless the step was alone, the steps run again, each in a savepoint. Steps open
    no savepoint of their own.

    The steps are one `metrics.signals.batch()`: what receivers deferred to its end runs
    after the last step, inside the transaction (dropped with an attempt that is rolled back).
    """
    try:
        with transaction.atomic(), signals.batch():
            if prepare is not None:
                prepare()
            return [step() for step in steps]
    except Exception as exc:  # noqa: BLE001 - find out which one, below
        if len(steps) == 1 and prepare is None:
            return [exc]
    results: list[Any] = []
    with transaction.atomic(), signals.batch():
        for step in steps:
            try:
                with transaction.atomic(), signals.step():
                    results.append(step())
            except Exception as exc:  # noqa: BLE001 - handed to the step's own caller
                results.append(exc)
    return results


def ingest_pending(item: Pending) -> Stored:
    """`ingest` of a queued sample, inside a transaction of each_in_one_transaction."""
    return ingest(
        item.host_id,
        item.token_hash,
        item.frame,
        item.received_at,
        item.clock_skew_s,
        item.memo,
        savepoint=False,
    )


class Writer:
    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], Any], asyncio.Future]] = []
        self.calls: list[tuple[Callable[[], Any], asyncio.Future]] = []  # ahead of the queue
        self.slots = asyncio.Semaphore(SLOTS)
        self.draining = False
        self.batches = 0  # for tests and benchmarks: how many transactions it took
        self.samples = 0

    async def store(self, pending: Pending) -> Stored:
        """Store one sample; returns its Stored or raises what storing it raised."""
        self.samples += 1
        return await self._queue(partial(ingest_pending, pending))

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` in the next batch's transaction, ahead of the samples queued
        before it; its result or exception."""
        return await self._queue(partial(function, *args), self.calls)

    async def _queue(self, step: Callable[[], Any], queue: list | None = None) -> Any:
        future = asyncio.get_running_loop().create_future()
        (self.queue if queue is None else queue).append((step, future))
        if not self.draining:
            self.draining = True
            asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.calls or self.queue:
                batch, self.calls = self.calls[:BATCH], self.calls[BATCH:]
                room = BATCH - len(batch)
                batch, self.queue = batch + self.queue[:room], self.queue[room:]
                try:
                    steps = [step for step, _ in batch]
                    results = await database_sync_to_async(each_in_one_transaction)(
                        steps, _prefetch(steps)
                    )
                except BaseException as exc:  # the commit failed: none of them is stored
                    results = [exc] * len(batch)
                    if isinstance(exc, asyncio.CancelledError):
                        for _, future in batch + self.calls + self.queue:
                            if not future.done():
                                future.set_exception(exc)
                        self.calls, self.queue = [], []
                        raise
                self.batches += 1
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its connection went away meanwhile
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.draining = False


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Writer] = weakref.WeakKeyDictionary()


def backlogged() -> bool:
    """True when a big frame arriving now would wait for a slot: every one is taken (on the
    event loop's thread)."""
    current = _writers.get(asyncio.get_running_loop())
    return current is not None and current.slots.locked()


def writer() -> Writer:
    """The writer of the running event loop (a server process has one loop)."""
    loop = asyncio.get_running_loop()
    current = _writers.get(loop)
    if current is None:
        current = _writers[loop] = Writer()
    return current
