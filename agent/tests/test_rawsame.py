"""What the agent sends instead of unchanged raw output (agent/rawsame.py): `raw_same` only
against the last sample of the tier the server acked on this connection, never while another
of the tier is in flight. Over real sockets: test_raw_same_e2e.py."""

from __future__ import annotations

import json

from agent.collect import make_sample, serialize
from agent.rawsame import RawSame

POOLS = {"pools": [{"name": "tank"}], "raw": {"status": {"tank": {"guid": 18446744073709551615}}}}


def fast(seq: int, raw=POOLS["raw"]) -> str:
    pools = {**POOLS, "raw": raw}
    return serialize(make_sample("fast", seq, 1_700_000_000 + seq, {"zfs_pools": pools}, {}))


def sent(raws: RawSame, seq: int, text: str) -> dict:
    return json.loads(raws.outgoing(seq, text))["data"]["zfs_pools"]


def test_raw_same_once_the_same_raw_was_acked():
    raws = RawSame()
    assert sent(raws, 1, fast(1))["raw"] == POOLS["raw"]
    raws.answered(1, acked=True)
    second = sent(raws, 2, fast(2))
    assert "raw" not in second and second["raw_same"] is True
    assert second["pools"] == POOLS["pools"]


def test_raw_again_when_it_changed_was_nacked_or_is_in_flight():
    raws = RawSame()
    raws.outgoing(1, fast(1))
    assert sent(raws, 2, fast(2))["raw"] == POOLS["raw"]  # 1 is in flight
    raws.answered(1, acked=True)
    assert "raw" in sent(raws, 3, fast(3))  # 2 still in flight
    raws.answered(2, acked=False)
    raws.answered(3, acked=True)
    changed = {"status": {}}
    assert sent(raws, 4, fast(4, raw=changed))["raw"] == changed
    raws.answered(4, acked=False)  # nacked: the server's last is still 3's
    assert sent(raws, 5, fast(5))["raw_same"] is True


def test_a_sample_without_raw_leaves_nothing_to_repeat():
    raws = RawSame()
    raws.outgoing(1, fast(1, raw=None))
    raws.answered(1, acked=True)
    assert sent(raws, 2, fast(2))["raw"] == POOLS["raw"]


def test_a_new_connection_starts_with_raw():
    raws = RawSame()
    raws.outgoing(1, fast(1))
    raws.answered(1, acked=True)
    assert sent(RawSame(), 2, fast(2))["raw"] == POOLS["raw"]


def test_other_tiers_and_frames_pass_unchanged():
    raws = RawSame()
    slow = serialize(make_sample("slow", 1, 1_700_000_000, {"system": {}}, {}))
    assert raws.outgoing(1, slow) == slow
    assert raws.outgoing(2, "not json") == "not json"
