"""SIGTERM as a flag for management commands that work in chunks (prune_samples, roll_up)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def caught() -> Iterator[Callable[[], bool]]:
    """Within the block, SIGTERM only sets a flag; yields the question "was it sent?", to be
    asked between two chunks. The previous handler comes back after the block."""
    sent: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: sent.append(True))
    try:
        yield lambda: bool(sent)
    finally:
        signal.signal(signal.SIGTERM, previous)
