"""A connection's memo, read for a whole batch at once (metrics/memo.py `prefetch`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import metrics.memo as memo_module
from hosts.models import Host
from metrics import codec
from metrics.decode import sample_frame
from metrics.guestindex import RUNTIME_FIELDS
from metrics.ingest import Pending, Stored
from metrics.memo import Memo, facts_of
from metrics.models import Guest, HostSummary, Keyframe, Sample
from metrics.tests import frames
from metrics.tests.test_ingest import NOW, pending
from metrics.writer import BATCH, ingest_many

pytestmark = pytest.mark.django_db(transaction=True)

TIERS = ("fast", "medium", "slow")


def restarted(make_host, prefix: str, count: int) -> tuple[list[Host], list[Pending]]:
    """`count` hosts with history, and a fast sample of each from a new connection (as after a
    server's restart: empty memos, no keyframe cached)."""
    hosts = [make_host(f"{prefix}{i}")[0] for i in range(count)]
    ingest_many([pending(host, 1, Memo(), tier=tier) for host in hosts for tier in TIERS])
    memo_module._keyframe_texts.clear()
    batch = []
    for host in hosts:
        p = pending(host, 2, Memo())
        frame = sample_frame(p.frame)  # as decoded from an agent's frame
        batch.append(Pending(p.host_id, p.token_hash, frame, p.received_at, None, p.memo))
    return hosts, batch


def test_new_connections_in_a_batch_read_what_their_hosts_hold_at_once(make_host):
    # Alone, each first sample would read its host's keyframe, latest time, facts, kernel,
    # guest index and keyframe text, one query each. In a batch they are read once for all
    # (metrics/memo.py `prefetch`): as many queries for six hosts as for two.
    counts = []
    for prefix, count in (("a", 2), ("b", 6)):
        hosts, batch = restarted(make_host, prefix, count)
        keyframes = set(Keyframe.objects.values_list("pk", flat=True))
        facts_before = {h.pk: HostSummary.objects.get(host=h).facts for h in hosts}
        with CaptureQueriesContext(connection) as queries:
            results = ingest_many(batch)
        counts.append(len(queries))

        assert all(isinstance(r, Stored) and r.created and r.latest for r in results)
        # compressed against the keyframes the hosts had: none started anew
        assert set(Keyframe.objects.values_list("pk", flat=True)) == keyframes
        for host, item in zip(hosts, batch, strict=True):
            facts = HostSummary.objects.get(host=host).facts
            assert facts["medium"] == facts_before[host.pk]["medium"]  # the other tiers kept
            assert facts["fast"] != facts_before[host.pk]["fast"]
            assert item.memo.facts is not None and facts_of(item.memo.facts) == facts
            assert item.memo.latest["fast"] == NOW + timedelta(seconds=60)
            assert item.memo.kernel_known
            assert item.memo.guests == {
                vmid: tuple(values)
                for vmid, *values in Guest.objects.filter(host=host).values_list(
                    "vmid", *RUNTIME_FIELDS
                )
            }
            row = Sample.objects.select_related("keyframe").get(
                host=host, collected_at=item.memo.latest["fast"]
            )
            assert codec.decode(row.body, row.keyframe.data)["data"] == frames.DATA["fast"]
    assert counts[0] == counts[1]


def test_the_keyframe_cache_holds_what_a_batch_reads_at_once():
    """prefetch reads a batch's missing keyframe texts into the cache; its samples then take
    them from there: it must hold a whole batch's."""
    assert memo_module.KEYFRAME_CACHE >= 2 * BATCH
