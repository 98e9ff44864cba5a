"""The guest index's config columns (metrics/guestindex.py `index_configs`): compared with what
is stored, written only where a guest's configuration changed."""

from __future__ import annotations

import copy
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.guestindex import index_configs, index_runtime
from metrics.models import Guest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(make_host):
    """A host whose guests are indexed from the fixture's medium sample: (host id, configs)."""
    host = make_host()[0]
    configs = copy.deepcopy(frames.DATA["medium"]["guest_configs"])
    assert index_configs(host.pk, configs)  # all new
    return host.pk, configs


def test_the_same_configurations_again_write_nothing(indexed):
    host_id, configs = indexed
    with CaptureQueriesContext(connection) as queries:
        assert not index_configs(host_id, copy.deepcopy(configs))
    assert [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")] == []


def test_a_changed_address_tag_or_mac_is_indexed_and_only_that_guest_written(indexed):
    host_id, configs = indexed
    before = dict(Guest.objects.filter(host_id=host_id).values_list("vmid", "updated_at"))
    changed = copy.deepcopy(configs)
    changed[0]["ips"] = ["192.0.2.77"]
    changed[0]["tags"] = ["moved"]
    changed[0]["macs"] = [mac.upper() for mac in changed[0]["macs"]]  # stored lower-case
    assert index_configs(host_id, changed)

    guest = Guest.objects.get(host_id=host_id, vmid=changed[0]["vmid"])
    assert (guest.ips, guest.tags) == (["192.0.2.77"], ["moved"])
    assert guest.macs == [mac.lower() for mac in configs[0]["macs"]]
    assert "192.0.2.77" in guest.search_text
    after = dict(Guest.objects.filter(host_id=host_id).values_list("vmid", "updated_at"))
    assert [vmid for vmid in after if after[vmid] != before[vmid]] == [changed[0]["vmid"]]
    assert not index_configs(host_id, changed)  # and as stored now, it is the same again


def test_a_guest_new_to_the_index_is_added_with_its_type(indexed):
    host_id, configs = indexed
    new = {**copy.deepcopy(configs[0]), "vmid": 9999, "name": "fresh", "type": "lxc"}
    assert index_configs(host_id, [*configs, new])
    assert Guest.objects.get(host_id=host_id, vmid=9999).type == "lxc"


def test_the_runtime_index_a_memo_keeps_holds_each_repeated_word_once(make_host):
    """What index_runtime returns stays in the connection's memo (5,000 of them): the guests'
    type and state are the same few words, not a copy each per guest and sample."""
    host = make_host()[0]
    guests = json.loads(json.dumps(frames.DATA["fast"]["guests"]))  # new strings, as decoded
    assert len(guests) >= 2
    for guest in guests:
        guest.update(type="qemu", status="running")
    guests = json.loads(json.dumps(guests))
    index = index_runtime(host.pk, guests, None)
    held = list(index.values())
    assert held[0][0] is held[1][0] and held[0][2] is held[1][2]
    assert guests[0]["type"] is not guests[1]["type"]  # the sample's own were copies
    # the next sample, unchanged, in new strings again: what the memo holds stays
    again = index_runtime(host.pk, json.loads(json.dumps(guests)), index)
    assert again == index and all(again[vmid] is index[vmid] for vmid in index)
    # and after a reconnect, what the index read back from its rows is held once too
    read = list(index_runtime(host.pk, json.loads(json.dumps(guests)), None).values())
    assert read == held and read[0][0] is read[1][0] and read[0][2] is read[1][2]
    assert Guest.objects.filter(host_id=host.pk, type="qemu", status="running").count() == len(
        guests
    )
