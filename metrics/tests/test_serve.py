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


def test_autobahns_settings_line_is_formatted_only_when_logged(monkeypatch):
    import pprint

    import autobahn.websocket.protocol as protocol
    from twisted.logger import formatEvent

    monkeypatch.setattr(protocol, "pformat", protocol.pformat)  # restored after the test
    serve._reason_passing_protocol(30.0, 30.0)
    settings = [("maxFramePayloadSize", 4194304, "WebSocketServerFactory")]
    attrs = protocol.pformat(settings)  # what autobahn hands its logger at every connection
    assert isinstance(attrs, serve._LazyPformat)
    # a line that is emitted reads as before
    assert formatEvent({"log_format": "\n{attrs}", "attrs": attrs}) == "\n" + pprint.pformat(
        settings
    )
