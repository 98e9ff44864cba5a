"""History: 5-minute and hourly rollups of stored samples, built by the background pass."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from io import StringIO

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from metrics import liveness, rollupformat, rollups, rollupview
from metrics.ingest import ingest
from metrics.models import Rollup, RollupState, Sample
from metrics.tests import frames

pytestmark = pytest.mark.django_db

HOUR_START = datetime(2026, 4, 21, 12, 0, tzinfo=UTC)


def fast(cpu=10.0, mem=1000, allocated=400, used=100, guest_cpu=1.0, load=0.5) -> dict:
    data = copy.deepcopy(frames.DATA["fast"])
    data["host"]["cpu_percent"] = cpu
    data["host"]["load"] = [load, 0.0, 0.0]
    data["host"]["mem"]["used"] = mem
    data["zfs_pools"]["pools"][0]["allocated"] = allocated
    data["storage"][0]["used"] = used
    data["guests"][0]["cpu_percent"] = guest_cpu
    return data


def store(host, token_hash, when: datetime, data: dict, seq: int = 1):
    frame = frames.sample("fast", seq, when, data=data)
    return ingest(host.pk, token_hash, frame, when + timedelta(seconds=1), None)


def stored(host, step: int, start: datetime) -> tuple[Rollup, int]:
    """The row holding the point of `step` that starts at `start`, and the point's slot."""
    at = int(start.timestamp())
    first = rollupformat.span_start(at, step)
    return Rollup.objects.get(host=host, step=step, start=first), (at - first) // step


def row(host, step: int, start: datetime) -> dict:
    """One point as the aggregates of rollups.extract's format, read from its row."""
    found, slot = stored(host, step, start)
    span = rollups.decode(found.data)
    out: dict = {}
    if "host" in span and (values := rollupformat.point(span["host"], slot)) is not None:
        out["host"] = values
    for kind in ("pools", "storage"):
        for name, group in (span.get(kind) or {}).items():
            if (values := rollupformat.point(group, slot)) is not None:
                out.setdefault(kind, {})[name] = values
    return out


def guests(host, start: datetime) -> dict:
    found, slot = stored(host, 3600, start)
    by_vmid = rollups.decode_guests(found.guests).items()
    return {vmid: rollupformat.point(group, slot) for vmid, group in by_vmid}


@pytest.fixture
def host(make_host):
    return make_host("pve1")[0]


def test_known_samples_give_exact_average_and_maximum(host):
    for i, (cpu, mem, alloc) in enumerate(
        [(10.0, 1000, 400), (20.0, 3000, 500), (60.0, 2000, 600)]
    ):
        store(host, host.token_hash, HOUR_START + timedelta(seconds=60 * i), fast(cpu, mem, alloc))
    assert rollups.roll_up() == 3

    five = row(host, 300, HOUR_START)
    cpu, load, mem = five["host"][0], five["host"][1], five["host"][2]
    assert cpu == [3, 30.0, 60.0]
    assert mem == [3, 2000, 3000]
    assert load == [3, 0.5, 0.5]
    assert five["pools"]["rpool"][0] == [3, 500, 600]  # allocated
    assert five["pools"]["rpool"][1] == [3, 1000000000000, 1000000000000]  # size
    assert five["storage"]["local-zfs"] == [[3, 100, 100], [3, 10000, 10000]]
    assert row(host, 3600, HOUR_START) == five  # the same three samples
    assert guests(host, HOUR_START)["100"] == [[3, 1.0, 1.0], [3, 1073741824, 1073741824]]


def test_bucket_edges_split_at_the_exact_second(host):
    edge = HOUR_START + timedelta(minutes=5)
    store(host, host.token_hash, edge - timedelta(seconds=1), fast(cpu=10.0), seq=1)
    store(host, host.token_hash, edge, fast(cpu=30.0), seq=2)
    store(host, host.token_hash, HOUR_START + timedelta(hours=1), fast(cpu=50.0), seq=3)
    rollups.roll_up()
    assert row(host, 300, HOUR_START)["host"][0] == [1, 10.0, 10.0]
    assert row(host, 300, edge)["host"][0] == [1, 30.0, 30.0]
    assert row(host, 3600, HOUR_START)["host"][0] == [2, 20.0, 30.0]
    assert row(host, 3600, HOUR_START + timedelta(hours=1))["host"][0] == [1, 50.0, 50.0]


def test_late_samples_land_in_their_own_buckets_and_merge_with_what_is_there(host):
    store(host, host.token_hash, HOUR_START, fast(cpu=10.0), seq=1)
    store(host, host.token_hash, HOUR_START + timedelta(hours=3), fast(cpu=70.0), seq=2)
    rollups.roll_up()
    # the agent's backlog after an outage arrives later, in its own order
    store(host, host.token_hash, HOUR_START + timedelta(seconds=30), fast(cpu=30.0), seq=3)
    store(host, host.token_hash, HOUR_START + timedelta(hours=1), fast(cpu=90.0), seq=4)
    assert rollups.roll_up() == 2
    assert row(host, 300, HOUR_START)["host"][0] == [2, 20.0, 30.0]
    assert row(host, 3600, HOUR_START + timedelta(hours=1))["host"][0] == [1, 90.0, 90.0]
    assert row(host, 3600, HOUR_START + timedelta(hours=3))["host"][0] == [1, 70.0, 70.0]


def test_a_row_holds_a_span_of_points_columnar_and_late_ones_merge_into_it(host):
    """Hourly points of a UTC day share a row, 5-minute points of an hour share a row; a late
    sample rewrites its day's row and merges into its own point."""
    day = HOUR_START - timedelta(hours=12)  # 2026-04-21 00:00 UTC
    for seq, (hours, cpu) in enumerate([(0, 10.0), (5, 20.0), (23, 30.0), (24, 40.0)]):
        store(host, host.token_hash, day + timedelta(hours=hours, minutes=1), fast(cpu), seq + 1)
    rollups.roll_up()
    hourly = Rollup.objects.filter(host=host, step=3600).order_by("start")
    assert [r.start for r in hourly] == [int(day.timestamp()), int(day.timestamp()) + 86400]
    span = rollups.decode(hourly[0].data)
    slots, columns = span["host"]
    assert slots == [0, 5, 23]
    assert columns[0] == [[1, 1, 1], [10.0, 20.0, 30.0], [10.0, 20.0, 30.0]]  # cpu
    assert not bytes(hourly[0].data).startswith(b"{")  # zstd, not the orjson text
    assert rollups.decode_guests(hourly[0].guests)["100"][0] == [0, 5, 23]
    five = Rollup.objects.filter(host=host, step=300).values_list("start", flat=True)
    assert len(five) == 4 and all(start % 3600 == 0 for start in five)
    # the backlog: one sample into an existing point, one into a new point between two
    store(host, host.token_hash, day + timedelta(hours=5, minutes=2), fast(cpu=60.0), seq=5)
    store(host, host.token_hash, day + timedelta(hours=3), fast(cpu=50.0), seq=6)
    assert rollups.roll_up() == 2
    assert row(host, 3600, day + timedelta(hours=5))["host"][0] == [2, 40.0, 60.0]
    assert row(host, 3600, day + timedelta(hours=3))["host"][0] == [1, 50.0, 50.0]
    assert rollups.decode(Rollup.objects.get(pk=hourly[0].pk).data)["host"][0] == [0, 3, 5, 23]
    assert row(host, 300, day + timedelta(hours=5))["host"][0] == [2, 40.0, 60.0]


def test_one_guest_is_read_from_a_row_as_the_whole_row_says():
    guests: dict = {}
    rollupformat.put_guests(guests, 3, {"10": [[2, 1.5, 2.0], None], "7": [None, None]})
    rollupformat.put_guests(guests, 1, {"100": [[2, 3.25, 4.0], [2, 512, 1024]]})
    rollupformat.put_guests(guests, 2, {"100": [[1, 1.0, 1.0], [1, 256, 256]]})
    blob = rollups.encode_guests(guests)
    for vmid in (10, 100, 7):
        assert rollups.guest_values(blob, vmid) == rollups.decode_guests(blob)[str(vmid)]
    assert rollups.guest_values(blob, 100) == [
        [1, 2],
        [[[2, 1], [3.25, 1.0], [4.0, 1.0]], [[2, 1], [512, 256], [1024, 256]]],
    ]
    assert rollups.guest_values(blob, 1) is None  # a prefix of 10 and 100, not a guest
    assert rollups.guest_values(None, 10) is None
    assert rollups.guest_values(rollups.encode_guests({}), 10) is None


def test_the_pass_reads_a_sample_as_a_whole_parse_would():
    """rollupview reads only the fields history keeps; what extract makes of them is the same
    as of the whole sample, for the test frames and a demo host's sample (bench/payloads.py:
    raw zpool output, vdev trees, 50 guests)."""
    from bench.payloads import Host as Simulated

    demo = Simulated(3, "pve0003", "degraded").data("fast", HOUR_START)
    for data in (fast(), frames.DATA["fast"], demo):
        text = orjson.dumps({"data": data, "errors": {}})
        assert rollupview.fast_data(text)["zfs_pools"].keys() == {"pools"}  # raw skipped
        assert rollups.extract(rollupview.fast_data(text)) == rollups.extract(data)


def test_a_sample_of_another_shape_is_read_whole():
    odd = {"host": "not an object", "guests": [{"vmid": 100, "cpu_percent": 1.5, "mem": 7}]}
    text = orjson.dumps({"data": odd, "errors": {}})
    assert rollupview.fast_data(text) == odd
    assert rollups.extract(rollupview.fast_data(text))[1] == {"100": [[1, 1.5, 1.5], [1, 7, 7]]}
    # integers beyond 64 bits (the schema allows them in raw output), skipped or kept
    text = b'{"data":{"zfs_pools":{"raw":{"guid":%d},"pools":[{"name":"t","allocated":%d}]}}}' % (
        2**70,
        2**70,
    )
    assert rollupview.fast_data(text)["zfs_pools"]["pools"][0]["allocated"] == 2**70


def test_duplicates_and_repeated_passes_do_not_count_twice(host):
    store(host, host.token_hash, HOUR_START, fast(cpu=10.0), seq=1)
    store(host, host.token_hash, HOUR_START, fast(cpu=10.0), seq=1)  # resent: acked, not stored
    rollups.roll_up()
    rollups.roll_up()
    store(host, host.token_hash, HOUR_START, fast(cpu=10.0), seq=1)  # resent after the pass
    assert rollups.roll_up() == 0
    assert row(host, 300, HOUR_START)["host"][0] == [1, 10.0, 10.0]


def test_a_pass_that_lost_the_race_writes_nothing(host):
    store(host, host.token_hash, HOUR_START, fast(cpu=10.0))
    newest = Sample.objects.latest("id").pk
    # another process claimed these ids between our read of the state and our write
    original = RollupState.objects.filter

    class Raced:
        calls = 0

    def filter_then_race(*args, **kwargs):
        if "last_id" in kwargs and Raced.calls == 0:
            Raced.calls += 1
            RollupState.objects.update(last_id=newest)
        return original(*args, **kwargs)

    RollupState.objects.get_or_create(pk=1)
    RollupState.objects.filter = filter_then_race
    try:
        assert rollups.roll_up() == 0
    finally:
        RollupState.objects.filter = original
    assert not Rollup.objects.exists()


def test_medium_and_slow_samples_move_the_mark_but_add_nothing(host):
    for tier in ("medium", "slow"):
        frame = frames.sample(tier, 1, HOUR_START)
        ingest(host.pk, host.token_hash, frame, HOUR_START, None)
    rollups.roll_up()
    assert not Rollup.objects.exists()
    assert rollups.rolled_up_to() == Sample.objects.latest("id").pk


def test_a_sample_without_host_or_pools_rolls_up_what_it_has(host):
    data = {"storage": frames.STORAGE, "guests": frames.GUESTS}
    store(host, host.token_hash, HOUR_START, data)
    rollups.roll_up()
    stored = row(host, 300, HOUR_START)
    assert "host" not in stored and "pools" not in stored
    assert stored["storage"]["local-zfs"][0] == [1, 1000, 1000]


def test_unknown_cpu_is_left_out_of_the_average(host):
    store(host, host.token_hash, HOUR_START, fast(cpu=None), seq=1)
    store(host, host.token_hash, HOUR_START + timedelta(seconds=30), fast(cpu=40.0), seq=2)
    rollups.roll_up()
    stored = row(host, 300, HOUR_START)
    assert stored["host"][0] == [1, 40.0, 40.0]
    assert stored["host"][2][0] == 2  # memory was known both times


def test_pruning_raw_samples_leaves_the_rollups(host, settings):
    now = timezone.now()
    old = now - timedelta(hours=60)
    store(host, host.token_hash, old, fast(cpu=10.0), seq=1)
    store(host, host.token_hash, now, fast(cpu=20.0), seq=2)
    out = StringIO()
    call_command("prune_samples", stdout=out)
    # the pruner rolled the old sample up before deleting it
    assert "Deleted 1 samples" in out.getvalue()
    assert Sample.objects.filter(host=host).count() == 1
    start = old - timedelta(seconds=int(old.timestamp()) % 300, microseconds=old.microsecond)
    assert row(host, 300, start)["host"][0] == [1, 10.0, 10.0]


def test_samples_not_yet_rolled_up_are_kept(host, monkeypatch):
    store(host, host.token_hash, timezone.now() - timedelta(hours=60), fast())
    monkeypatch.setattr(rollups, "roll_up", lambda **kwargs: 0)  # the pass is failing
    assert liveness.prune() == 0
    assert Sample.objects.count() == 1


def test_history_points_past_their_retention_are_pruned_and_counted(host, settings):
    settings.PROXMON_HISTORY_5M_DAYS = 2
    settings.PROXMON_HISTORY_1H_DAYS = 10
    now = timezone.now()
    for i, days in enumerate((1, 3, 11)):
        store(host, host.token_hash, now - timedelta(days=days), fast(), seq=i + 1)
    rollups.roll_up()
    assert Rollup.objects.count() == 6
    out = StringIO()
    call_command("prune_samples", stdout=out)
    assert "and 3 history rows" in out.getvalue()  # 5-minute of 3 and 11 days, hourly of 11
    assert sorted(Rollup.objects.values_list("step", flat=True)) == [300, 3600, 3600]


def test_a_row_goes_when_its_whole_span_is_past_the_retention(host, settings):
    settings.PROXMON_HISTORY_5M_DAYS = 1
    settings.PROXMON_HISTORY_1H_DAYS = 10
    day = datetime(2026, 4, 21, tzinfo=UTC)
    store(host, host.token_hash, day + timedelta(minutes=30), fast(), seq=1)
    store(host, host.token_hash, day + timedelta(hours=23, minutes=30), fast(), seq=2)
    rollups.roll_up()
    last_hour_kept = day + timedelta(days=11) - timedelta(seconds=1)
    assert rollups.prune(now=last_hour_kept) == 2  # the 5-minute rows (two hours) go
    assert Rollup.objects.filter(step=3600).count() == 1  # its last hour is within 10 days
    assert rollups.prune(now=day + timedelta(days=11)) == 1  # the day's row
    assert not Rollup.objects.exists()


def test_rollups_go_with_their_host(host):
    store(host, host.token_hash, HOUR_START, fast())
    rollups.roll_up()
    host.delete()
    assert not Rollup.objects.exists()


def test_chunks_are_merged_before_a_write_and_give_the_same_points(make_host, monkeypatch):
    """A pass merges several chunks in memory before it writes; bounded by MAX_BUCKETS, it
    writes more often. The points are the same either way, and so is the count."""
    hosts = [make_host(f"pve{i}")[0] for i in range(3)]

    def fill(offset: timedelta) -> None:
        for minute in range(10):  # time-major, one sample per host and minute, as ingest
            for i, h in enumerate(hosts):
                when = HOUR_START + offset + timedelta(minutes=minute)
                store(h, h.token_hash, when, fast(cpu=float(minute + i)), seq=minute + 1)

    def points(offset: timedelta) -> list:
        return [
            (row(h, 300, HOUR_START + offset + timedelta(minutes=m)), row(h, 3600, HOUR_START))
            for h in hosts
            for m in (0, 5)
        ]

    fill(timedelta(0))
    assert rollups.roll_up(chunk=4, pause=0) == 30  # 8 chunks, one write
    together = points(timedelta(0))
    Rollup.objects.all().delete()
    RollupState.objects.all().delete()
    monkeypatch.setattr(rollups, "MAX_BUCKETS", 2)  # every chunk its own write
    assert rollups.roll_up(chunk=4, pause=0) == 30
    assert points(timedelta(0)) == together
    assert together[0][0]["host"][0] == [5, 2.0, 4.0]  # pve0, minutes 0-4: cpu 0..4
    assert rollups.rolled_up_to() == Sample.objects.order_by("-id").first().id
