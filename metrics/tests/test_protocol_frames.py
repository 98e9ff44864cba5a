"""Reading sample frames, the valid ones (metrics/decode.py): the fast path, raw output as the
agent's own bytes, what a stored sample decodes to, raw_same, and the fast path never accepting
what the exact check refuses. The nacks: test_protocol.py."""

from __future__ import annotations

import copy
import json
import tracemalloc
from typing import Any

import pytest

from metrics import codec
from metrics.decode import (
    _DECODER,
    KeptRaw,
    Rejected,
    SampleFrame,
    decode_frame,
    resolve,
)
from metrics.scan import unusual
from metrics.tests import frames
from metrics.tests.test_protocol import _at

# --- valid frames: the fast path, the agent's own bytes --------------------------------------


@pytest.mark.parametrize("tier", ["fast", "medium", "slow"])
def test_valid_frames_take_the_fast_path(tier):
    body = json.dumps(frames.sample(tier)).encode()
    assert not unusual(body)
    _DECODER.decode(body)  # msgspec alone accepts it
    decoded = decode_frame(body)
    assert isinstance(decoded, SampleFrame)
    assert decoded.text is body or decoded.text == body  # the frame's own bytes, not re-encoded


def test_unknown_keys_are_accepted_and_stored_but_left_out_of_the_decoded_data():
    frame = frames.sample("fast")
    frame["data"]["host"]["future_key"] = {"anything": [1, 2]}
    frame["data"]["smart"] = {"disks": []}
    frame["hint"] = "new optional key"
    decoded = decode_frame(json.dumps(frame))
    assert isinstance(decoded, SampleFrame)
    assert "smart" not in decoded.data and "future_key" not in decoded.data["host"]
    assert json.loads(decoded.text) == frame


def test_additive_keys_this_server_reads_are_decoded_and_never_nacked():
    fast, slow = frames.sample("fast"), frames.sample("slow")
    fast["data"]["via"] = {"guests": "pmxcfs", "storage": ["odd"]}
    fast["data"]["guests"][0]["template"] = "perhaps"
    slow["data"]["system"].update(kernel_newest="6.8.12-16-pve", kernel_pinned=None)
    decoded_fast, decoded_slow = decode_frame(json.dumps(fast)), decode_frame(json.dumps(slow))
    assert decoded_fast.data["via"] == {"guests": "pmxcfs", "storage": ["odd"]}
    assert decoded_fast.data["guests"][0]["template"] == "perhaps"
    assert decoded_slow.data["system"]["kernel_newest"] == "6.8.12-16-pve"
    assert decoded_slow.data["system"]["kernel_pinned"] is None


def test_the_drift_keys_are_text_or_null_like_the_other_versions():
    """A number there would reach version_key (metrics/drift.py) on every page of the host."""
    slow = frames.sample("slow")
    slow["data"]["system"]["zfs_kmod"] = 5
    decoded = decode_frame(json.dumps(slow))
    assert isinstance(decoded, Rejected), decoded
    assert decoded.problem.startswith("data.system.zfs_kmod:"), decoded.problem


@pytest.mark.parametrize(
    "number", [2**64, 2**64 + 5, -(2**63) - 1, 10**30], ids=["2**64", "2**64+5", "-2**63-1", "1e30"]
)
def test_integers_beyond_64_bits_in_raw_output_stay_exact(number):
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["raw"] = {"guid": number, "big float": 1.5e300}
    decoded = decode_frame(json.dumps(frame))
    assert isinstance(decoded, SampleFrame)
    raw = json.loads(decoded.text)["data"]["zfs_pools"]["raw"]
    assert raw == {"guid": number, "big float": 1.5e300} and type(raw["guid"]) is int


def test_64_bit_integers_and_ordinary_floats_take_the_fast_path():
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["raw"] = {"guid": 2**64 - 1, "min": -(2**63), "x": 0.1}
    body = json.dumps(frame).encode()
    assert not unusual(body)
    assert json.loads(decode_frame(body).raws["zfs_pools"]) == frame["data"]["zfs_pools"]["raw"]


def test_a_stored_sample_decodes_to_exactly_what_the_agent_sent():
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["raw"] = {"guid": 2**64 + 1, "name": "p\u00e9\u0000l", "f": 1e-7}
    frame["data"]["host"]["future_key"] = [1, {"a": None}]
    decoded = decode_frame(json.dumps(frame, ensure_ascii=False))
    keyframe = codec.compress(decoded.text)
    body = codec.compress(decoded.text, codec.decompress(keyframe))
    assert codec.decode(body, keyframe) == {"data": frame["data"], "errors": {}}
    assert codec.decode(codec.compress(decoded.text)) == {"data": frame["data"], "errors": {}}
    # against a keyframe at the dictionary level (cheaper to set up per sample), alone at LEVEL
    dictionary = codec.decompress(keyframe)
    assert body == codec.compress(decoded.text, dictionary, level=codec.DICTIONARY_LEVEL)
    assert keyframe == codec.compress(decoded.text, level=codec.LEVEL)


def test_a_frame_without_errors_decodes_with_empty_errors():
    frame = frames.sample("slow")
    del frame["errors"]
    decoded = decode_frame(json.dumps(frame))
    assert decoded.errors == {} and codec.decode(codec.compress(decoded.text))["errors"] == {}


# --- raw left out, raw_same -----------------------------------------------------------------


@pytest.mark.parametrize(("tier", "source"), [("fast", "zfs_pools"), ("medium", "datasets")])
def test_raw_absent_or_null_is_valid_and_has_nothing_to_remember(tier, source):
    for raw in ("absent", None):
        frame = frames.sample(tier)
        if raw == "absent":
            del frame["data"][source]["raw"]
        else:
            frame["data"][source]["raw"] = None
        decoded = decode_frame(json.dumps(frame))
        assert isinstance(decoded, SampleFrame) and decoded.raws == {} and decoded.same == ()


@pytest.mark.parametrize(("tier", "source"), [("fast", "zfs_pools"), ("medium", "datasets")])
def test_raw_same_is_filled_with_the_previous_raw(tier, source):
    first = frames.sample(tier, seq=1)
    first["data"][source]["raw"] = {"guid": 2**64 - 1, "deep": [[{"x": "y"}]]}
    remembered = decode_frame(json.dumps(first)).raws
    second = frames.sample(tier, seq=2)
    del second["data"][source]["raw"]
    second["data"][source]["raw_same"] = True
    decoded = decode_frame(json.dumps(second))
    assert decoded.same == (source,)
    resolved = resolve(decoded, remembered)
    assert isinstance(resolved, SampleFrame) and resolved.same == ()
    meant = copy.deepcopy(second)
    del meant["data"][source]["raw_same"]
    meant["data"][source]["raw"] = first["data"][source]["raw"]
    assert json.loads(resolved.text) == meant
    assert resolved.raws[source] == remembered[source]
    assert resolve(decoded, {}) == (
        f"data.{source}.raw_same: no sample of this tier with raw output was acked on this"
        " connection"
    )


def test_raw_wins_over_raw_same_and_raw_same_false_is_no_claim():
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["raw_same"] = True  # raw is there too
    assert decode_frame(json.dumps(frame)).same == ()
    del frame["data"]["zfs_pools"]["raw"]
    frame["data"]["zfs_pools"]["raw_same"] = False
    assert decode_frame(json.dumps(frame)).same == ()


# --- a raw sent again unchanged: not scanned again (KeptRaw) ---------------------------------


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def _kept(frame: dict) -> dict[str, dict[str, KeptRaw]]:
    decoded = decode_frame(json.dumps(frame, separators=(",", ":")))
    assert isinstance(decoded, SampleFrame)
    return {frame["tier"]: {s: KeptRaw.of(raw) for s, raw in decoded.raws.items()}}


def test_a_kept_raw_takes_the_memory_of_its_compressed_size():
    """5,000 connections keep their raws: compressed, they must not hold the raw's size.
    python-zstandard allocates for the worst case and only shortens the length (codec.exact)."""
    raw = json.dumps([frames.sample("fast", seq=n)["data"] for n in range(40)]).encode()
    assert len(raw) > 40_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [KeptRaw.of(raw) for _ in range(50)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    packed = len(kept[0].packed)
    assert packed < len(raw) / 4
    assert held < packed + 500, (held, packed, len(raw))
    assert kept[0].raw() == raw


def test_a_raw_sent_again_unchanged_is_named_and_decodes_alike():
    frame = frames.sample("fast", seq=1)
    # a day that does not exist, in raw text: the exact check's to judge (and it may stand)
    frame["data"]["zfs_pools"]["raw"] = {"guid": 2**64 - 1, "deep": [["2027-02-30T00:00"]]}
    kept = _kept(frame)
    body = json.dumps(frame, separators=(",", ":")).encode()  # as the agent writes it
    alone, again = decode_frame(body), decode_frame(body, kept)
    assert isinstance(again, SampleFrame) and again.unchanged == ("zfs_pools",)
    assert isinstance(alone, SampleFrame) and alone.unchanged == ()
    assert (again.data, again.raws, again.text) == (alone.data, alone.raws, alone.text)
    assert kept["fast"]["zfs_pools"].depth == 3
    frame["data"]["zfs_pools"]["raw"]["guid"] -= 1  # same length, other bytes
    changed = decode_frame(json.dumps(frame, separators=(",", ":")), kept)
    assert isinstance(changed, SampleFrame) and changed.unchanged == ()


def test_an_unchanged_raw_still_counts_for_nesting_wherever_a_copy_stands():
    frame = frames.sample("fast", seq=1)
    frame["data"]["zfs_pools"]["raw"] = _nested(61)  # the deepest raw allowed
    kept = _kept(frame)
    # the same raw one level deeper, under a key the protocol does not know, before the raw
    pools = frame["data"]["zfs_pools"]
    frame["data"]["zfs_pools"] = {"extra": {"raw": _nested(61)}, **pools}
    text = json.dumps(frame, separators=(",", ":"))
    alone, again = decode_frame(text), decode_frame(text, kept)
    assert isinstance(alone, Rejected) and "nested deeper than 64 levels" in alone.problem
    assert again == alone
    assert kept["fast"]["zfs_pools"].depth == 62  # found unchanged: 62 pairs of braces


def test_an_unchanged_raw_does_not_hide_an_overflow_beside_it():
    frame = frames.sample("fast", seq=1)
    kept = _kept(frame)
    text = json.dumps(frame, separators=(",", ":"))
    text = text.replace('"storage":[', '"x":[1E+0400],"storage":[')
    assert decode_frame(text, kept) == decode_frame(text)
    assert decode_frame(text).problem == "data.x[0]: expected a finite number"
    assert kept["fast"]["zfs_pools"].depth is not None  # it was found unchanged


# --- frames that are not samples ------------------------------------------------------------


def test_other_frames_come_back_as_dicts():
    join = frames.join("pve1", "t")
    assert decode_frame(json.dumps(join)) == join


# --- the fast path never accepts what the exact check refuses ---------------------------------

ODD_VALUES = [None, "x", "y" * 256, -1, 1.5, True, [], {}, 2**63, 2**64, 1_000_000_000, -0.0]


def _leaves(value: Any, path: list) -> list[list]:
    """Paths to every value (lists: their first two entries), not into raw output."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += [[*path, key]] if key == "raw" else _leaves(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += _leaves(item, [*path, index])
    return found


@pytest.fixture(scope="module")
def real_samples(tmp_path_factory) -> list[dict]:
    """A sample of each tier from the fake host, every source present (degraded: disks too)."""
    from agent.collect import collect_tier  # noqa: PLC0415
    from agent.tests import fakehost  # noqa: PLC0415

    fake = fakehost.build(tmp_path_factory.mktemp("fake"), "degraded", 3)
    samples = []
    for tier in ("fast", "medium", "slow"):
        data, errors = collect_tier(fake.machine(), tier)
        samples.append(frames.sample(tier, 1, data=data, errors=errors))
    return samples


def test_the_fake_hosts_samples_hold_every_source(real_samples):
    sources = {s["tier"]: set(s["data"]) for s in real_samples}
    assert {"host", "storage", "zfs_pools", "guests"} <= sources["fast"]
    assert {"datasets", "guest_configs", "backups", "replication"} <= sources["medium"]
    assert {"system", "disks"} <= sources["slow"]
    assert all(isinstance(decode_frame(json.dumps(s)), SampleFrame) for s in real_samples)


def test_every_odd_value_anywhere_is_judged_alike_by_msgspec_and_the_exact_check(real_samples):
    """The fast path accepts a frame only if the exact check does (and the nack says what
    the exact check says, since it words every nack)."""
    from metrics.nacks import explain  # noqa: PLC0415

    checked = 0
    for sample in real_samples:
        for path in _leaves(sample["data"], ["data"]):
            for odd in ODD_VALUES:
                frame = copy.deepcopy(sample)
                target, last = _at(frame, path)
                target[last] = odd
                text = json.dumps(frame)
                expected = explain(json.loads(text))
                decoded = decode_frame(text)
                got = decoded.problem if isinstance(decoded, Rejected) else None
                assert got == expected, (path, odd)
                checked += 1
    assert checked > 1000


def test_the_last_day_of_a_30_day_month_takes_the_fast_path():
    frame = frames.sample("fast")
    frame["data"]["zfs_pools"]["pools"][0]["scan"]["start_time"] = "2026-11-30T23:51:00Z"
    assert not unusual(json.dumps(frame).encode())


def test_days_that_may_not_exist_are_found_by_their_t_as_the_pattern_finds_them():
    from metrics.scan import _DAYS, _MAX_TS, _impossible_day

    days = [f"-{month:02d}-{day:02d}" for month in range(1, 13) for day in (1, 28, 29, 30, 31)]
    for day in days:
        for body in (
            f'{{"t":"2026{day}T00:00:00Z"}}'.encode(),
            f"2026{day}T".encode(),  # at the very start
            f'{{"x":"{"T" * (_MAX_TS + 3)}","t":"2026{day}T00:00:00Z"}}'.encode(),  # many a T
            f'{{"t":"2026{day}t00:00:00Z","T":1}}'.encode(),
        ):
            assert _impossible_day(body) == (_DAYS.search(body) is not None), body
    assert _impossible_day(b'"2026-02-30T"') and not _impossible_day(b'"2026-02-28T"')
    assert _impossible_day(b"T" * 200 + b"2027-04-31T") and not _impossible_day(b"T" * 200)


def test_an_exponent_of_three_digits_with_or_without_its_sign_is_looked_at():
    frame = frames.sample("fast")
    for number, looked_at in [
        ("1e400", True), ("1E+400", True), ("2.5e-400", True), ("1e100", True),
        ("1e99", False), ("1E+99", False), ("12345", False), ("-1.5", False),
    ]:  # fmt: skip
        text = json.dumps(frame).replace('"storage": [', f'"x": [{number}], "storage": [')
        assert unusual(text.encode()) is looked_at, number
