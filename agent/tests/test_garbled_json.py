"""Garbled JSON from pvesh or a guest agent is that source's error entry, never an internal error.

The garbles are real captured outputs (fixtures/pve) cut short or spoiled the ways a broken
pipe, a buggy API or a hostile guest spoils them.
"""

import re
from pathlib import Path

import pytest

from agent import collect
from agent.collect import collect_tier
from agent.collectors import host
from agent.collectors.guest_configs import parse_agent_interfaces, parse_config, summarize
from agent.machine import SourceError
from agent.tests import fakehost

PVE = Path(__file__).parent / "fixtures" / "pve"
AGENT_ANSWER = PVE / "ansible-agent-network-get-interfaces-linux-docker.json"


def truncated(text: str) -> str:
    return text[: len(text) // 2]


def huge_number(text: str) -> str:
    """The first number made 5,000 digits long: Python's json refuses it without a `.msg`."""
    return re.sub(r'(":\s*)\d+', r"\g<1>" + "1" * 5000, text, count=1)


def too_deep(text: str) -> str:
    return "[" * 100_000 + text


GARBLES = {"truncated": truncated, "huge number": huge_number, "too deep": too_deep}


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(collect, "_not_applicable", set())
    monkeypatch.setattr(collect, "_failing", {})
    monkeypatch.setattr(host, "FIRST_READING_GAP_S", 0.01)


@pytest.mark.parametrize("garble", GARBLES.values(), ids=GARBLES.keys())
def test_garbled_guest_list_is_the_guests_source_error(tmp_path, garble):
    fake = fakehost.build(tmp_path, "healthy", pmxcfs=None)  # pvesh: no /etc/pve/.rrd
    resources = fake.base / "out/cluster-resources.json"  # what the pvesh stand-in prints
    resources.write_text(garble(resources.read_text()))
    data, errors = collect_tier(fake.machine(), "fast")
    reason = errors["guests"]
    assert reason.startswith("pvesh get /cluster/resources: not JSON ("), reason
    assert "internal error" not in reason and "\n" not in reason and len(reason) < 200
    assert "guests" not in data and {"host", "storage", "zfs_pools"} <= set(data)


@pytest.mark.parametrize("garble", GARBLES.values(), ids=GARBLES.keys())
def test_garbled_vmlist_is_the_guests_source_error(tmp_path, garble):
    fake = fakehost.build(tmp_path, "healthy")
    vmlist = fake.root / "etc/pve/.vmlist"
    vmlist.write_text(garble(vmlist.read_text()))
    data, errors = collect_tier(fake.machine(), "fast")
    reason = errors["guests"]
    assert reason.startswith("/etc/pve/.vmlist: not JSON ("), reason
    assert "internal error" not in reason and "\n" not in reason and len(reason) < 200
    assert "guests" not in data and data["via"] == {"storage": "pmxcfs"}


@pytest.mark.parametrize("garble", GARBLES.values(), ids=GARBLES.keys())
def test_garbled_guest_agent_answer_is_that_guests_ips_error(tmp_path, garble):
    fake = fakehost.build(tmp_path, "healthy")
    answer = fake.base / "out/agent-answer.json"
    answer.write_text(garble(AGENT_ANSWER.read_text()))
    qm = fake.bin / "qm"
    qm.write_text(f"#!/bin/sh\nexec {fakehost._tool('cat')} {answer}\n")
    data, errors = collect_tier(fake.machine(), "medium")
    assert "guest_configs" not in errors, errors
    running = next(g for g in data["guest_configs"] if g["vmid"] == fakehost.RUNNING_VMID)
    assert running["ips_error"].startswith("guest agent: not JSON ("), running["ips_error"]
    assert running["ips"] == [] and running["ips_source"] is None


@pytest.mark.parametrize("garble", GARBLES.values(), ids=GARBLES.keys())
def test_garbled_agent_answer_parses_to_a_source_error(garble):
    with pytest.raises(SourceError, match=r"^guest agent: not JSON \("):
        parse_agent_interfaces(garble(AGENT_ANSWER.read_text()))


def test_disk_size_of_hundreds_of_digits_is_a_source_error():
    text = (PVE.parent / "handmade/ansible-qemu-config-windows.conf").read_text()
    spoiled = re.sub(r"size=\d+G", "size=" + "9" * 400 + "G", text)
    assert spoiled != text
    with pytest.raises(SourceError, match="bad size"):
        summarize(102, "qemu", parse_config(spoiled))


def test_cores_of_thousands_of_digits_is_a_source_error():
    with pytest.raises(SourceError, match="expected an integer"):
        summarize(102, "qemu", {"cores": "4" * 5000})
