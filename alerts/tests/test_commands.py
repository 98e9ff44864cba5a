"""add_channel, notify_test, silence, unsilence, tag_host: what Ansible and scripts call."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from alerts.models import Channel, Silence
from hosts.models import Host

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_add_channel_saves_url_level_and_tags_and_prints_the_url_masked(receivers):
    receiver = receivers()
    url = f"json://127.0.0.1:{receiver.port}/hook-s3cret"
    out = run(
        "add_channel", "ops", url, "--min-level", "critical", "--tag", "prod", "--tag", "ceph"
    )
    assert out == f"Added channel ops: json://127.0.0.1:{receiver.port}/… (critical and worse)"
    channel = Channel.objects.get(name="ops")
    assert (channel.url, channel.min_level, channel.tag_list) == (url, "critical", ["prod", "ceph"])
    assert run("add_channel", "ops", url, "--signing-secret", "k").startswith(
        "Replaced channel ops"
    )
    assert Channel.objects.count() == 1
    assert Channel.objects.get().signing_secret == "k"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ops", "nonsense://x"], "Apprise does not understand this URL"),
        (["ops", "json://127.0.0.1/x", "--tag", "Bad Tag!"], "not a valid tag"),
    ],
)
def test_add_channel_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run("add_channel", *args)
    assert not Channel.objects.exists()


def test_notify_test_sends_to_the_receiver_and_fails_clearly(channel, receivers):
    ops = channel()
    assert run("notify_test", "ops").startswith("Sent a test message to ops")
    (request,) = ops.receiver.requests
    assert request["json"]["title"] == "proxmon: test message"
    with pytest.raises(CommandError, match="No channel named 'nope'"):
        run("notify_test", "nope")
    broken = receivers([500])
    channel("broken", receiver=broken)
    with pytest.raises(CommandError, match="Channel broken failed: HTTP 500"):
        run("notify_test", "broken")


def test_silence_and_unsilence_a_host():
    Host.objects.create(name="pve7")
    out = run("silence", "PVE7", "--minutes", "30", "--reason", "kernel update")
    assert out.startswith("Silenced pve7 until ")
    silence = Silence.objects.get()
    assert silence.reason == "kernel update" and silence.until > timezone.now()
    assert run("unsilence", "pve7") == "Ended 1 silence(s) of pve7"
    assert not Silence.objects.active().exists()
    with pytest.raises(CommandError, match="No host named 'pve9'"):
        run("silence", "pve9", "--minutes", "5")
    with pytest.raises(CommandError, match="--minutes must be between"):
        run("silence", "pve7", "--minutes", "0")


def test_tag_host_sets_and_clears_tags():
    Host.objects.create(name="pve7")
    assert run("tag_host", "pve7", "prod", "Ceph-A", "prod") == "Tagged pve7: prod ceph-a"
    assert Host.objects.get().tag_list == ["prod", "ceph-a"]
    assert run("tag_host", "pve7") == "Tagged pve7: (no tags)"
    with pytest.raises(CommandError, match="not a valid tag"):
        run("tag_host", "pve7", "no/slash")
    with pytest.raises(CommandError, match="No host named"):
        run("tag_host", "nope", "x")
