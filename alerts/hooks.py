"""How alerts hears from metrics: facts changed at ingest, background thread up or down."""

from __future__ import annotations


def connect() -> None:
    from alerts import background, engine
    from metrics import signals

    signals.facts_changed.connect(engine.on_facts_changed, dispatch_uid="alerts.facts")
    signals.background_started.connect(background.on_started, dispatch_uid="alerts.start")
    signals.background_stopping.connect(background.on_stopping, dispatch_uid="alerts.stop")
