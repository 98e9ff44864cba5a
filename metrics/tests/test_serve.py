"""The serve command's process set-up (daphne itself is exercised by the end-to-end tests)."""

from __future__ import annotations

import gc
import logging

from metrics.management.commands import serve


def test_long_garbage_collections_are_logged_and_start_up_objects_frozen(caplog, monkeypatch):
    monkeypatch.setattr(serve, "GC_PAUSE_LOG_S", 0.0)  # every collection counts as long
    before, thresholds = list(gc.callbacks), gc.get_threshold()
    try:
        serve._watch_garbage_collector()
        assert gc.get_freeze_count() > 10_000  # Django and the apps, out of every collection
        assert gc.get_threshold()[0] == serve.GC_YOUNG_THRESHOLD
        with caplog.at_level(logging.WARNING, logger="proxmon.serve"):
            gc.collect()
        assert any(
            "garbage collection of generation 2 took" in r.getMessage() for r in caplog.records
        )
    finally:
        gc.callbacks[:] = before
        gc.set_threshold(*thresholds)
        gc.unfreeze()
