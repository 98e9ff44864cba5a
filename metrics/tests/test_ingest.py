"""Storing samples: group commit, the per-connection memo. (Exact numbers: test_protocol.py.)"""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import IntegrityError

from hosts.models import Host
from metrics.ingest import Pending, Stored, TokenRevoked, ingest
from metrics.memo import Memo, facts_of
from metrics.models import Guest, HostSummary, LatestSample, Sample
from metrics.tests import frames
from metrics.writer import Writer, ingest_many

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 4, 21, 12, 0, tzinfo=UTC)


def pending(host: Host, seq: int, memo: Memo | None = None, tier: str = "fast", data=None):
    when = NOW + timedelta(seconds=30 * seq)
    frame = frames.sample(tier, seq, when, data=data)
    return Pending(host.pk, host.token_hash, frame, when + timedelta(seconds=1), None, memo)


def stored(host: Host) -> list[datetime]:
    return list(
        Sample.objects.filter(host=host)
        .order_by("collected_at")
        .values_list("collected_at", flat=True)
    )


# --- ingest_many: one transaction, one outcome per sample -------------------------------------


def test_one_failing_sample_takes_none_of_the_others_with_it(make_host):
    hosts = [make_host(f"pve{i}")[0] for i in range(3)]
    revoked = hosts[1]
    stale = Pending(revoked.pk, revoked.token_hash, frames.sample("fast", 1, NOW), NOW, None)
    revoked.issue_token()  # the token it joined with is gone

    results = ingest_many([pending(hosts[0], 1), stale, pending(hosts[2], 1)])

    assert isinstance(results[0], Stored) and results[0].created
    assert isinstance(results[1], TokenRevoked)
    assert isinstance(results[2], Stored) and results[2].created
    assert len(stored(hosts[0])) == 1 and len(stored(hosts[2])) == 1
    assert stored(revoked) == []
    assert not LatestSample.objects.filter(host=revoked).exists()


def test_a_batch_stored_again_after_a_failure_leaves_memos_on_committed_rows(make_host):
    # The batch is first tried without a savepoint per sample; the revoked sample makes that
    # attempt roll back whole (its keyframes included) before it is stored sample by sample.
    # The memos must point at the keyframes of the attempt that committed, or the next sample
    # would be compressed against a keyframe that does not exist.
    hosts = [make_host(f"pve{i}")[0] for i in range(3)]
    memos = [Memo() for _ in hosts]
    stale = Pending(hosts[1].pk, hosts[1].token_hash, frames.sample("fast", 1, NOW), NOW, None)
    hosts[1].issue_token()

    ingest_many([pending(hosts[0], 1, memos[0]), stale, pending(hosts[2], 1, memos[2])])
    results = ingest_many([pending(hosts[0], 2, memos[0]), pending(hosts[2], 2, memos[2])])

    assert all(isinstance(r, Stored) and r.created and r.latest for r in results)
    for host, memo in ((hosts[0], memos[0]), (hosts[2], memos[2])):
        keyframe_id = memo.keyframes["fast"][0]
        assert set(Sample.objects.filter(host=host).values_list("keyframe_id", flat=True)) == {
            keyframe_id
        }
        assert memo.latest["fast"] == NOW + timedelta(seconds=60)
    assert len(stored(hosts[0])) == 2 and len(stored(hosts[2])) == 2


def test_a_batch_without_failures_takes_one_statement_per_step(
    make_host, django_assert_max_num_queries
):
    # Per sample: host, sample, chart point, latest, summary (no savepoint of its own); plus
    # the transaction. Reading back what the memos know would add more.
    hosts = [make_host(f"pve{i}")[0] for i in range(4)]
    memos = [Memo() for _ in hosts]
    ingest_many([pending(host, 1, memo) for host, memo in zip(hosts, memos, strict=True)])
    with django_assert_max_num_queries(2 + 5 * len(hosts)):
        ingest_many([pending(host, 2, memo) for host, memo in zip(hosts, memos, strict=True)])


def test_a_sample_stored_alone_takes_no_savepoint(make_host, django_assert_max_num_queries):
    # A quiet server stores most samples one by one: the same statements as in a batch.
    host, _ = make_host()
    memo = Memo()
    ingest_many([pending(host, 1, memo)])
    with django_assert_max_num_queries(2 + 5):
        ingest_many([pending(host, 2, memo)])


def test_a_duplicate_in_a_group_is_acked_and_stored_once(make_host):
    host, _ = make_host()
    first, again = ingest_many([pending(host, 1)]), ingest_many([pending(host, 1)])
    assert first[0].created and not again[0].created and not again[0].latest
    assert len(stored(host)) == 1


# --- the writer: samples arriving together share a transaction --------------------------------


async def test_samples_queued_together_are_stored_in_one_transaction(make_host):
    hosts = [(await database_sync_to_async(make_host)(f"pve{i}"))[0] for i in range(10)]
    writer = Writer()
    results = await asyncio.gather(*(writer.store(pending(h, 1)) for h in hosts))
    assert all(r.created and r.latest for r in results)
    assert (writer.batches, writer.samples) == (1, 10)
    counts = await database_sync_to_async(lambda: [len(stored(h)) for h in hosts])()
    assert counts == [1] * 10


async def test_a_revoked_sample_in_a_batch_raises_for_its_own_connection_only(make_host):
    good, _ = await database_sync_to_async(make_host)("pve1")
    bad, _ = await database_sync_to_async(make_host)("pve2")
    stale = pending(bad, 1)
    await database_sync_to_async(bad.issue_token)()
    writer = Writer()
    outcome = await asyncio.gather(
        writer.store(pending(good, 1)), writer.store(stale), return_exceptions=True
    )
    assert isinstance(outcome[0], Stored) and outcome[0].created
    assert isinstance(outcome[1], TokenRevoked)
    assert writer.batches == 1


async def test_more_than_a_batch_is_stored_in_several_transactions(make_host, monkeypatch):
    monkeypatch.setattr("metrics.writer.BATCH", 4)
    host, _ = await database_sync_to_async(make_host)()
    writer = Writer()
    # ten samples of one host at once (a test only: a connection sends one at a time)
    results = await asyncio.gather(*(writer.store(pending(host, seq)) for seq in range(10)))
    assert all(r.created for r in results)
    assert writer.batches == 3
    assert len(await database_sync_to_async(stored)(host)) == 10


async def test_joins_and_samples_arriving_together_share_one_transaction(make_host):
    # A join storm after a restart: each join's online-marking rides in the writer's batch
    # instead of committing alone on the database thread.
    hosts = [(await database_sync_to_async(make_host)(f"pve{i}"))[0] for i in range(6)]
    writer = Writer()
    now = NOW + timedelta(hours=1)
    joins = [
        writer.call(Host.objects.connect, h.pk, h.token_hash, uuid.uuid4(), uuid.uuid4(), now)
        for h in hosts[:5]
    ]
    results = await asyncio.gather(*joins, writer.store(pending(hosts[5], 1)))
    assert results[:5] == [True] * 5 and results[5].created
    assert (writer.batches, writer.samples) == (1, 1)
    statuses = await database_sync_to_async(
        lambda: set(Host.objects.filter(pk__in=[h.pk for h in hosts[:5]]).values_list("status"))
    )()
    assert statuses == {(Host.Status.ONLINE,)}


async def test_joins_go_ahead_of_the_samples_queued_before_them(make_host, monkeypatch):
    # The start of a big fleet: thousands of first samples queued, then joins. A join behind
    # them would wait longer than the agent's join deadline.
    monkeypatch.setattr("metrics.writer.BATCH", 4)
    hosts = [(await database_sync_to_async(make_host)(f"pve{i}"))[0] for i in range(3)]
    writer = Writer()
    order: list[str] = []

    async def sample(seq: int) -> None:
        await writer.store(pending(hosts[0], seq))
        order.append(f"sample {seq}")

    async def join(host: Host) -> None:
        now = NOW + timedelta(hours=1)
        assert await writer.call(
            Host.objects.connect, host.pk, host.token_hash, uuid.uuid4(), uuid.uuid4(), now
        )
        order.append(f"join {host.name}")

    samples = [asyncio.ensure_future(sample(seq)) for seq in range(8)]
    await asyncio.sleep(0)  # the samples are queued, the first batch is being stored
    await asyncio.gather(*samples, join(hosts[1]), join(hosts[2]))
    # the first batch (four samples) was on its way; the joins ride in the next one, before
    # the samples queued ahead of them, and in their own order
    assert order.index("join pve1") < order.index("join pve2") < order.index("sample 4")
    assert order.index("sample 3") < order.index("join pve1")
    assert writer.batches == 3  # 4 samples; 2 joins + 2 samples; 2 samples


async def test_a_failing_call_in_a_batch_raises_for_its_caller_only(make_host):
    host, _ = await database_sync_to_async(make_host)("pve1")
    writer = Writer()

    def broken():
        Host.objects.create(name=host.name)  # the name is taken: IntegrityError

    outcome = await asyncio.gather(
        writer.call(broken), writer.store(pending(host, 1)), return_exceptions=True
    )
    assert isinstance(outcome[0], IntegrityError)
    assert isinstance(outcome[1], Stored) and outcome[1].created
    assert writer.batches == 1


# --- the memo: what the connection's earlier samples stored ----------------------------------


def guests(host: Host) -> dict[int, tuple]:
    return {g.vmid: (g.name, g.status) for g in Guest.objects.filter(host=host)}


def with_guest_status(status: str) -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    data["guests"][0]["status"] = status
    return data


def test_the_guest_index_follows_every_change_with_a_memo(make_host):
    host, _ = make_host()
    memo = Memo()
    vmid = frames.DATA["fast"]["guests"][0]["vmid"]
    for seq, status in enumerate(["running", "stopped", "stopped", "running"], start=1):
        ingest_many([pending(host, seq, memo, data=with_guest_status(status))])
        assert guests(host)[vmid][1] == status, seq
    assert memo.guests is not None and memo.guests[vmid][2] == "running"


def test_a_sample_that_fails_leaves_the_memo_as_the_database_is(make_host):
    host, _ = make_host()
    memo = Memo()
    ingest_many([pending(host, 1, memo, data=with_guest_status("running"))])
    before = (dict(memo.keyframes), dict(memo.latest), memo.guests, memo.facts)

    stale = pending(host, 2, memo, data=with_guest_status("stopped"))
    host.issue_token()
    assert isinstance(ingest_many([stale])[0], TokenRevoked)
    assert (memo.keyframes, memo.latest, memo.guests, memo.facts) == before

    # and the next good sample, compared against the memo, still writes what changed
    host.refresh_from_db()
    ingest_many([pending(host, 3, memo, data=with_guest_status("stopped"))])
    vmid = frames.DATA["fast"]["guests"][0]["vmid"]
    assert guests(host)[vmid][1] == "stopped"


def test_a_config_sample_that_renames_a_guest_makes_the_memo_read_the_index_again(make_host):
    host, _ = make_host()
    memo = Memo()
    ingest_many([pending(host, 1, memo)])
    configs = copy.deepcopy(frames.DATA["medium"])
    vmid = configs["guest_configs"][0]["vmid"]
    configs["guest_configs"][0]["name"] = "renamed-by-config"
    ingest_many([pending(host, 2, memo, tier="medium", data=configs)])
    assert memo.guests is None
    assert guests(host)[vmid][0] == "renamed-by-config"
    # the runtime list still says the old name: the next fast sample writes it back
    ingest_many([pending(host, 3, memo)])
    assert guests(host)[vmid][0] == frames.DATA["fast"]["guests"][0]["name"]


def test_summary_facts_of_every_tier_survive_with_a_memo(make_host):
    host, _ = make_host()
    memo = Memo()
    for seq, tier in enumerate(["fast", "medium", "slow", "fast"], start=1):
        ingest_many([pending(host, seq, memo, tier=tier)])
    facts = HostSummary.objects.get(host=host).facts
    assert set(facts) == {"fast", "medium", "slow"}
    assert facts["fast"]["collected_at"] == frames.rfc3339(NOW + timedelta(seconds=120))
    assert memo.facts is not None and facts_of(memo.facts) == facts
    # the memo holds each tier's facts as JSON text, the row is those texts joined: still JSON
    # the database reads (a lookup into it, jsonb on PostgreSQL)
    assert all(isinstance(text, bytes) for text in memo.facts.values())
    fast_at = frames.rfc3339(NOW + timedelta(seconds=120))
    assert HostSummary.objects.filter(host=host, facts__fast__collected_at=fast_at).exists()


def test_ingest_without_a_memo_reads_everything_back(make_host):
    host, _ = make_host()
    ingest(host.pk, host.token_hash, pending(host, 1).frame, NOW, None)
    ingest(host.pk, host.token_hash, pending(host, 2).frame, NOW, None)
    assert len(stored(host)) == 2
    assert Host.objects.get(pk=host.pk).kernel == frames.DATA["fast"]["host"]["kernel"]


def test_the_latest_row_holds_the_samples_own_bytes_and_outlives_retention(make_host):
    from metrics.models import Keyframe

    host, _ = make_host()
    memo = Memo()
    for seq in (1, 2):
        ingest_many([pending(host, seq, memo)])
    latest = LatestSample.objects.get(host=host, tier="fast")
    newest = Sample.objects.get(host=host, collected_at=latest.collected_at)
    assert (bytes(latest.body), latest.keyframe_id) == (bytes(newest.body), newest.keyframe_id)
    assert latest.data == newest.payload["data"] == frames.DATA["fast"]
    # the host goes away for longer than retention: its samples go, its latest and keyframe stay
    Sample.objects.filter(host=host).delete()
    Keyframe.objects.filter(host=host).update(created_at=NOW - timedelta(days=30))
    assert Keyframe.objects.prune(NOW) == 0
    assert LatestSample.objects.get(host=host, tier="fast").data == frames.DATA["fast"]


# --- the connection check: one query for all connections of the process ----------------------


def test_one_query_judges_every_connection_of_the_process(make_host, django_assert_num_queries):
    import uuid

    from metrics.connection_watch import judge

    hosts = [make_host(f"pve{i}")[0] for i in range(4)]
    ours, revoked, replaced, swept = (uuid.uuid4() for _ in range(4))
    Host.objects.filter(pk=hosts[0].pk).update(connection_id=ours)
    Host.objects.filter(pk=hosts[2].pk).update(connection_id=uuid.uuid4())  # a newer one
    Host.objects.filter(pk=hosts[3].pk).update(connection_id=None, status="offline")
    joined = [
        (hosts[0].pk, hosts[0].token_hash, ours),
        (hosts[1].pk, "$2b$04$" + "x" * 53, revoked),
        (hosts[2].pk, hosts[2].token_hash, replaced),
        (hosts[3].pk, hosts[3].token_hash, swept),
    ]
    with django_assert_num_queries(2):  # the read, and claiming the swept host back
        verdicts = judge(joined)
    assert verdicts == {ours: "ours", revoked: "revoked", replaced: "replaced", swept: "ours"}
    assert Host.objects.filter(pk=hosts[3].pk, connection_id=swept, status="online").exists()


async def test_the_check_closes_only_the_connections_whose_token_changed(
    make_host, connect_agent, settings
):
    from metrics.connection_watch import checker

    settings.PROXMON_CONNECTION_CHECK_S = 0.2
    agents = []
    for i in range(4):
        host, token = await database_sync_to_async(make_host)(f"pve{i}")
        agents.append((host, await connect_agent(host.name, token)))
    revoked = agents[1][0]
    await database_sync_to_async(
        lambda: Host.objects.filter(pk=revoked.pk).update(token_hash="$2b$04$" + "x" * 53)
    )()
    assert await agents[1][1].closed_with(timeout=3) == 4401
    rounds = checker().rounds
    for _, agent in (agents[0], agents[2], agents[3]):
        await agent.send_json_to(frames.sample("slow", seq=1))
        assert await agent.receive_json_from(timeout=5) == {"type": "ack", "seq": 1}
    while checker().rounds < rounds + 2:  # two more rounds, and still nobody else is closed
        await asyncio.sleep(0.05)
    for _, agent in (agents[0], agents[2], agents[3]):
        await agent.send_json_to(frames.sample("slow", seq=2))
        assert await agent.receive_json_from(timeout=5) == {"type": "ack", "seq": 2}


async def test_big_frames_wait_for_a_slot_before_they_are_decoded(
    make_host, connect_agent, monkeypatch
):
    """With 2 slots, 6 agents sending at once never have more than 2 samples decoded."""
    import metrics.writer

    monkeypatch.setattr(metrics.writer, "SLOTS", 2)
    metrics.writer._writers.clear()  # a writer with 2 slots for this loop
    batches: list[int] = []
    real = metrics.writer.each_in_one_transaction

    def recording(steps, prepare=None):  # the samples of each batch (joins ride in them too)
        samples = sum(getattr(s, "func", None) is metrics.writer.ingest_pending for s in steps)
        if samples:
            batches.append(samples)
        return real(steps, prepare)

    monkeypatch.setattr(metrics.writer, "each_in_one_transaction", recording)
    agents = []
    for i in range(6):
        host, token = await database_sync_to_async(make_host)(f"pve{i}")
        agents.append(await connect_agent(host.name, token))
    big = frames.sample("fast", seq=1)
    big["data"]["zfs_pools"]["raw"] = {"padding": "x" * 8000}  # > 4 KB: takes a slot
    for agent in agents:
        await agent.send_json_to(big)
    for agent in agents:
        assert await agent.receive_json_from(timeout=10) == {"type": "ack", "seq": 1}
    assert sum(batches) == 6 and max(batches) <= 2
