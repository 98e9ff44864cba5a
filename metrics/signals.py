"""What metrics tells apps that build on it (alerts), without importing them.

- `facts_changed(host_id, facts, now)`: a sample became the latest of its tier and the host's
  compact facts changed; sent inside ingest's transaction, so a receiver's writes commit or
  roll back with the sample.
- `background_started()` / `background_stopping()`: the server process's background thread
  (metrics.liveness) starts or stops; receivers start and stop their own work with it.

`batch()`: the writer (metrics/writer.py) stores many samples in one transaction. A receiver
that can do a job for many hosts at once cheaper than for each alone (alerts evaluates the
hosts the process does not know yet with a few queries for all) keeps the job in the batch's
`store(name)` and `defer`s one function that does it; deferred functions run when the batch's
samples are stored, still inside the transaction, so what they write commits or rolls back
with the samples. A batch that raises drops them: its samples are rolled back; so does a
`step()` that raises, for what it deferred.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal

facts_changed = Signal()
background_started = Signal()
background_stopping = Signal()


class _Batch:
    def __init__(self) -> None:
        self.stores: dict[str, dict[Any, Any]] = {}
        self.deferred: list[Callable[[], None]] = []


_current = threading.local()


@contextmanager
def batch() -> Iterator[None]:
    """Samples stored in this thread within the block are one batch (module docstring)."""
    outer = getattr(_current, "batch", None)
    _current.batch = this = _Batch()
    try:
        yield
        for function in this.deferred:
            function()
    finally:
        _current.batch = outer


@contextmanager
def step() -> Iterator[None]:
    """One sample of the current batch, in a savepoint of its own: if it raises, what it
    deferred is dropped with it (the batch's other samples keep theirs)."""
    this: _Batch = _current.batch
    saved = {name: dict(kept) for name, kept in this.stores.items()}
    deferred = len(this.deferred)
    try:
        yield
    except BaseException:
        for name, kept in this.stores.items():  # in place: deferred functions hold them
            kept.clear()
            kept.update(saved.get(name, {}))
        del this.deferred[deferred:]
        raise


def store(name: str) -> dict[Any, Any] | None:
    """The current batch's dict for `name` (empty at first), or None outside a batch."""
    this: _Batch | None = getattr(_current, "batch", None)
    if this is None:
        return None
    return this.stores.setdefault(name, {})


def defer(function: Callable[[], None]) -> None:
    """Run `function` when the current batch's samples are stored (call inside a batch)."""
    _current.batch.deferred.append(function)
