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


def test_autobahns_debug_values_are_formatted_only_when_logged(monkeypatch):
    import pprint

    import autobahn.twisted.websocket as twisted_websocket
    import autobahn.websocket.protocol as protocol
    from autobahn.util import hltype, hlval
    from twisted.logger import formatEvent

    for module in (protocol, twisted_websocket):
        for name in ("pformat", "hltype", "hlval"):  # restored after the test
            monkeypatch.setattr(module, name, getattr(module, name, None), raising=False)
    serve._reason_passing_protocol(30.0, 30.0)
    serve._reason_passing_protocol(30.0, 30.0)  # a second server in the process: wrapped once
    settings = [("maxFramePayloadSize", 4194304, "WebSocketServerFactory")]
    # what autobahn hands its logger at every connection and every chunk of data
    values = {
        "attrs": (protocol.pformat(settings), pprint.pformat(settings)),
        "func": (twisted_websocket.hltype(_named), hltype(_named)),
        "data_len": (protocol.hlval(65536), hlval(65536)),
    }
    assert all(isinstance(lazy, serve._Formatted) for lazy, _ in values.values())
    assert not isinstance(protocol.pformat.function, serve._Lazily)  # not wrapped twice
    # a line that is emitted reads as before
    event = {"log_format": "{func} {data_len}\n{attrs}"}
    lazy_line = formatEvent({**event, **{key: lazy for key, (lazy, _) in values.items()}})
    assert lazy_line == formatEvent({**event, **{key: eager for key, (_, eager) in values.items()}})


def _named() -> None:
    """A function for autobahn's hltype to name."""
