"""The ingest ceiling without and with the roll-up pass following it (`bench.history ceiling`)."""

from __future__ import annotations

import os


def ceiling(args) -> dict:
    """bench.scale --saturate twice on fresh servers: the roll-up pass off, then running
    without rest. Off: PROXMON_HISTORY_INTERVAL_S of a million seconds (the pass runs once, at
    start, on an empty database). On: an interval of 1 s with the background thread's round at
    1 s (PROXMON_HEARTBEAT_S, in both runs), so the pass follows ingest within a second or two
    instead of every 5 minutes: the same samples read once each, in more and smaller passes, so
    the same work per sample and none of it left for after the run. PostgreSQL: the settle
    margin is 5 s, not 60, or the pass would hardly start within the run."""
    from bench import scale
    from liveserver import LiveServer

    found: dict = {}
    drop = LiveServer.drop

    def drop_after_counting(server: LiveServer) -> None:
        if not server.shared:
            found["rolled_up_to_id"] = server.query("SELECT MAX(last_id) FROM metrics_rollupstate")
            found["newest_fast_id"] = server.query(
                "SELECT MAX(id) FROM metrics_sample WHERE tier = 'fast'"
            )
            found["history_points"] = server.query("SELECT COUNT(*) FROM metrics_rollup")
        drop(server)

    setattr(LiveServer, "drop", drop_after_counting)  # noqa: B010 - for this run only
    runs = {}
    try:
        for label, interval in (("without_rollups", "1000000"), ("with_rollups", "1")):
            os.environ.update(
                PROXMON_HEARTBEAT_S="1",
                PROXMON_HISTORY_INTERVAL_S=interval,
                PROXMON_HISTORY_SETTLE_S="5",
            )
            found.clear()
            report = scale.main(
                ["--agents", str(args.agents), "--duration", str(args.duration), "--saturate",
                 "--timeline", "0"]
            )  # fmt: skip
            runs[label] = {
                "acked_per_s": report.get("acked_per_s"),
                "ack_ms_p50": report.get("ack_ms_p50"),
                "ack_ms_p99": report.get("ack_ms_p99"),
                "nacks": report.get("nacks"),
                **{k: v for k, v in report.items() if "cpu" in k or "busy" in k},
                **{k: (v[0][0] if v else None) for k, v in found.items()},
            }
            engine = report.get("engine")
    finally:
        setattr(LiveServer, "drop", drop)  # noqa: B010
    without = runs["without_rollups"]["acked_per_s"] or 0
    with_ = runs["with_rollups"]["acked_per_s"] or 0
    return {
        "engine": engine,
        "agents": args.agents,
        "duration_s": args.duration,
        **runs,
        "ceiling_change_pct": round((with_ - without) / without * 100, 1) if without else None,
    }
