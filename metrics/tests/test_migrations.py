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
