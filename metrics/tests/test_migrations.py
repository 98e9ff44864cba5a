"""Upgrading a database that holds samples from before compression: the data migrations
(0004: samples compressed, 0006: latest rows compressed) run on real rows of the old schema and
the rows decode to what was stored, through every later migration to the current one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from metrics import codec

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("metrics", "0003_guest_index_without_runtime"), ("hosts", "0001_initial")]
DATA = {"host": {"cpu_pct": 1.5, "name": "pve1 – ü"}, "storage": []}


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_samples_and_latest_rows_of_the_first_release_survive_every_migration():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = migrate(BEFORE)
        host = old.get_model("hosts", "Host").objects.create(name="pve1")
        at = datetime(2026, 11, 1, tzinfo=UTC)
        old.get_model("metrics", "Sample").objects.create(
            host_id=host.pk, tier="fast", collected_at=at, received_at=at, payload={"data": DATA}
        )
        old.get_model("metrics", "LatestSample").objects.create(
            host_id=host.pk, tier="fast", collected_at=at, received_at=at, data=DATA
        )

        new = migrate(latest)
        sample = new.get_model("metrics", "Sample").objects.get()
        assert codec.decode(bytes(sample.body))["data"] == DATA
        row = new.get_model("metrics", "LatestSample").objects.get()
        assert codec.decode(bytes(row.body))["data"] == DATA
    finally:
        migrate(latest)


BEFORE_SPANS = [("metrics", "0009_latest_keyframe"), ("hosts", "0003_host_tags")]


def test_history_points_of_one_row_each_become_rows_of_a_span_with_the_same_series():
    """0010: rows of one point each (zstd of orjson, or plain orjson as the first pass wrote
    them) become rows of an hour of 5-minute points and a day of hourly points; series.json and
    the forecast read the same numbers; going back gives the old rows again."""
    import orjson
    import zstandard

    from dashboard.series import series

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    day = 1776729600  # 2026-04-21 00:00 UTC
    host_row = [[10, 12.5, 30.0], [10, 0.5, 0.75], [10, 1000, 1200], [10, 4000, 4000], None, None]
    pools = {"tank": [[10, 400, 410], [10, 1000, 1000], [10, 1.5, 2.0]] + [[10, 0, 0]] * 4}
    old_rows = [  # (step, start, data, guests)
        (300, day + 3300, {"host": host_row, "pools": pools}, None),  # 00:55
        (300, day + 3600, {"host": host_row}, None),  # 01:00, the next hour's row
        (300, day + 3900, {"storage": {"local": [[1, 5, 5], [1, 9, 9]]}}, None),
        (3600, day, {"host": host_row, "pools": pools}, {"101": [[120, 2.5, 9.0], None]}),
        (3600, day + 7200, {"host": host_row}, {"101": [[120, 3.5, 4.0], [120, 7, 8]]}),
        (3600, day + 86400, {"host": host_row}, {}),  # the next day's row
    ]
    compress = zstandard.ZstdCompressor().compress
    try:
        old = migrate(BEFORE_SPANS)
        host = old.get_model("hosts", "Host").objects.create(name="pve1")
        Rollup = old.get_model("metrics", "Rollup")
        for i, (step, start, data, guests) in enumerate(old_rows):
            text = orjson.dumps(data)
            Rollup.objects.create(
                host_id=host.pk,
                step=step,
                start=start,
                data=text if i == 1 else compress(text),  # one plain row, as first written
                guests=None if guests is None else compress(orjson.dumps(guests)),
            )

        new = migrate(latest)
        rows = new.get_model("metrics", "Rollup").objects.order_by("step", "start")
        assert [(r.step, r.start) for r in rows] == [
            (300, day),
            (300, day + 3600),
            (3600, day),
            (3600, day + 86400),
        ]
        now = datetime.fromtimestamp(day + 2 * 86400, UTC)
        week = series(host.pk, "7d", now)
        assert week["host"]["t"] == [day + 3300, day + 3600]
        assert week["host"]["cpu"] == [12.5, 12.5] and week["host"]["cpu_max"] == [30.0, 30.0]
        assert week["host"]["mem_total"] == [4000, 4000] and week["rootfs"]["t"] == []
        assert week["pools"]["tank"]["allocated"] == [400]
        assert week["pools"]["tank"]["allocated_max"] == [410]
        assert week["storage"]["local"] == {
            "t": [day + 3900],
            "used": [5],
            "used_max": [5],
            "total": [9],
        }
        year = series(host.pk, "1y", now, guest=101)
        assert year["host"]["t"] == [day, day + 7200, day + 86400]
        assert year["host"]["load"] == [0.5] * 3 and year["host"]["load_max"] == [0.75] * 3
        assert year["guest"]["t"] == [day, day + 7200]
        assert year["guest"]["cpu"] == [2.5, 3.5] and year["guest"]["cpu_max"] == [9.0, 4.0]
        assert year["guest"]["mem"] == [None, 7] and year["guest"]["mem_max"] == [None, 8]

        back = migrate(BEFORE_SPANS)
        found = back.get_model("metrics", "Rollup").objects.order_by("step", "start")
        decompress = zstandard.ZstdDecompressor().decompress
        assert [
            (
                r.step,
                r.start,
                orjson.loads(decompress(bytes(r.data))),
                None if r.guests is None else orjson.loads(decompress(bytes(r.guests))),
            )
            for r in found
        ] == sorted(old_rows, key=lambda r: (r[0], r[1]))
    finally:
        migrate(latest)
