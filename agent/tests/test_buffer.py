import json
import logging
import random

import pytest

from agent.buffer import DEFAULT_MAX_BYTES, DEFAULT_MAX_SAMPLES, Buffer


def text(seq: int, filler: str = "") -> str:
    return json.dumps({"type": "sample", "seq": seq, "tier": "fast", "data": {"x": filler}})


def filled(count: int, **limits) -> Buffer:
    buffer = Buffer(**limits)
    for seq in range(1, count + 1):
        buffer.add(seq, text(seq), label=f"fast #{seq}")
    return buffer


def test_pending_is_in_seq_order_and_returns_the_exact_text():
    buffer = Buffer()
    for seq in (3, 1, 2):  # a slow tier may finish after a fast one that started later
        buffer.add(seq, text(seq))
    assert list(buffer.pending()) == [(1, text(1)), (2, text(2)), (3, text(3))]
    assert list(buffer.pending(after=1)) == [(2, text(2)), (3, text(3))]


def test_ack_removes_only_that_sample():
    buffer = filled(3)
    assert buffer.ack(2) is True
    assert [seq for seq, _ in buffer.pending()] == [1, 3]
    assert buffer.ack(2) is False  # acked twice, or dropped before the ack came


def test_nack_removes_and_logs_the_servers_reason(caplog):
    buffer = filled(2)
    with caplog.at_level(logging.ERROR, logger="proxmon.agent"):
        assert buffer.nack(1, "data.host.mem.total: expected an integer") is True
    assert [seq for seq, _ in buffer.pending()] == [2]
    assert "seq 1 (fast #1)" in caplog.text
    assert "data.host.mem.total: expected an integer" in caplog.text


def test_pending_survives_acks_while_iterating():
    buffer = filled(5)
    seen = []
    for seq, _ in buffer.pending():
        seen.append(seq)
        buffer.ack(seq)
        buffer.ack(seq + 1)  # an ack racing ahead of the resend
    assert seen == [1, 3, 5]
    assert len(buffer) == 0


def test_count_limit_drops_the_oldest_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="proxmon.agent"):
        buffer = filled(4, max_samples=4)
        assert buffer.add(5, text(5), label="fast #5") == 1
    assert [seq for seq, _ in buffer.pending()] == [2, 3, 4, 5]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "dropped the 1 oldest" in warnings[0].getMessage()
    assert "fast #1" in warnings[0].getMessage()


def test_byte_limit_drops_as_many_old_samples_as_needed(caplog):
    # Random filler hardly compresses: each sample holds about 3.5 KB, the last 7 KB.
    fillers = [random.Random(seq).randbytes(3000 if seq < 4 else 6000).hex() for seq in range(5)]
    buffer = Buffer(max_bytes=12_000)
    with caplog.at_level(logging.WARNING, logger="proxmon.agent"):
        for seq in range(1, 4):
            buffer.add(seq, text(seq, fillers[seq]))
        dropped = buffer.add(4, text(4, fillers[4]))
    assert dropped == 2
    assert buffer.nbytes <= 12_000
    assert [seq for seq, _ in buffer.pending()] == [3, 4]
    assert sum("dropped the" in r.getMessage() for r in caplog.records) == 1


def test_samples_are_held_compressed():
    sample = text(1, "pool tank ONLINE " * 2000)
    buffer = Buffer()
    buffer.add(1, sample)
    assert buffer.nbytes < len(sample) / 10
    assert buffer.chars(1) == len(sample)
    assert buffer.get(1) == sample


def test_replace_keeps_the_place_in_line():
    buffer = filled(3)
    buffer.replace(2, text(2, "smaller"))
    assert list(buffer.pending()) == [(1, text(1)), (2, text(2, "smaller")), (3, text(3))]
    assert buffer.label(2) == "fast #2"


def test_a_seq_is_held_once():
    buffer = filled(1)
    with pytest.raises(ValueError):
        buffer.add(1, text(1))


def test_default_holds_48_hours_of_every_tier():
    assert DEFAULT_MAX_SAMPLES == 48 * 120 + 48 * 12 + 48 * 2
    buffer = Buffer.for_intervals(30, 300, 1800)
    assert buffer.max_samples == DEFAULT_MAX_SAMPLES
    assert buffer.max_bytes == DEFAULT_MAX_BYTES == 64 * 1024 * 1024
    assert Buffer.for_intervals(10, 60, 600).max_samples == 48 * (360 + 60 + 6)
