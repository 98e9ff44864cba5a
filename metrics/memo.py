"""What an agent connection's samples stored, so that its next sample need not read it back;
and reading it for a whole batch of samples at once.

Each connection keeps a Memo (one connection per host; its samples are stored one at a time,
in order). A new connection starts with an empty one, so what another server process wrote for
the host meanwhile is read again. Ingest (metrics/ingest.py) reads what its memo lacks, one
query at a time. A batch of the writer (metrics/writer.py) first reads what all of its memos
lack with one query per table (`prefetch`): after a restart every one of thousands of
connections starts empty, and one sample's half a dozen small queries cost more than storing it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from django.db.models import TextField
from django.db.models.functions import Cast

from hosts.models import Host
from metrics import codec, guestindex
from metrics.decode import SampleFrame
from metrics.models import Guest, HostSummary, Keyframe, LatestSample

if TYPE_CHECKING:
    from metrics.ingest import Pending

# Samples are compressed against a keyframe of their host and tier that is at most this old.
KEYFRAME_EVERY = timedelta(hours=1)
# A tier whose newest keyframe is too old to serve (or that has none): its next sample starts one.
NO_KEYFRAME = (0, datetime.min.replace(tzinfo=UTC))


# A host's summary facts (HostSummary.facts: tier -> metrics.summary's compact facts) with each
# tier's as JSON text: ~8 KB a host where the dicts took ~26 KB, ~90 MB at 5,000 connections.
# The summary row is these texts joined; the alert rules get them decoded (~15 µs a sample).
FactsText = dict[str, bytes]


def facts_of(texts: FactsText) -> dict[str, Any]:
    return {tier: msgspec.json.decode(text) for tier, text in texts.items()}


def facts_json(texts: FactsText) -> str:
    """The JSON text of HostSummary.facts, joined from the tiers' texts."""
    parts = (msgspec.json.encode(tier) + b":" + text for tier, text in texts.items())
    return (b"{" + b",".join(parts) + b"}").decode()


@dataclass
class Memo:
    """What one connection's samples stored (see the module's text)."""

    keyframes: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # tier -> current
    latest: dict[str, datetime] = field(default_factory=dict)  # tier -> its latest collected_at
    guests: dict[int, tuple] | None = None  # vmid -> guestindex.RUNTIME_FIELDS
    facts: FactsText | None = None  # HostSummary.facts, each tier's as JSON text
    kernel_known: bool = False  # Host.kernel is set

    def update(self, other: Memo) -> None:
        self.keyframes.update(other.keyframes)
        self.latest.update(other.latest)
        self.guests, self.facts, self.kernel_known = other.guests, other.facts, other.kernel_known


# The JSON text of recent keyframes by id, so most samples need no extra read to compress.
# A writer's batch (at most metrics.writer.BATCH samples) reads those it lacks at once
# (`prefetch`), so this holds at least a batch's; more only helps a fleet whose keyframes all
# fit, and costs ~50 KB each.
_keyframe_texts: OrderedDict[int, bytes] = OrderedDict()
KEYFRAME_CACHE = 128


def keyframe_text(keyframe_id: int) -> bytes:
    text = _keyframe_texts.get(keyframe_id)
    if text is None:
        stored = Keyframe.objects.values_list("data", flat=True).get(pk=keyframe_id)
        text = codec.decompress(bytes(stored))
    remember_keyframe(keyframe_id, text)
    return text


def remember_keyframe(keyframe_id: int, text: bytes) -> None:
    _keyframe_texts[keyframe_id] = text
    _keyframe_texts.move_to_end(keyframe_id)
    while len(_keyframe_texts) > KEYFRAME_CACHE:
        _keyframe_texts.popitem(last=False)


class _Item(NamedTuple):
    host_id: int
    tier: str
    received_at: datetime
    data: dict
    memo: Memo


def prefetch(batch: list[Pending]) -> None:
    """Fill in what the memos of `batch` lack and its samples would read, one query per table.

    Runs in the batch's transaction before its first sample, so it reads the committed state
    each sample would otherwise read alone; what it finds stays true if the batch is rolled
    back. A memo is only ever filled in, never contradicted: what is not found here (a new
    host's rows) is still read by ingest, or created.
    """
    items = [
        _Item(p.host_id, p.frame.tier, p.received_at, p.frame.data, p.memo)
        for p in batch
        if p.memo is not None and isinstance(p.frame, SampleFrame)
    ]
    for read in (_keyframes, _latest, _facts, _kernel, _guests, _keyframe_texts_of):
        read(items)


def _latest(items: list[_Item]) -> None:
    by_host = _by_host([item for item in items if item.tier not in item.memo.latest])
    if by_host:
        rows = LatestSample.objects.filter(host_id__in=by_host).values_list(
            "host_id", "tier", "collected_at"
        )
        for host_id, tier, collected_at in rows:
            for memo in by_host[host_id]:
                memo.latest.setdefault(tier, collected_at)


def _facts(items: list[_Item]) -> None:
    by_host = _by_host([item for item in items if item.memo.facts is None])
    for host_id, texts in read_facts(list(by_host)).items():
        for memo in by_host[host_id]:
            memo.facts = texts


def read_facts(host_ids: list[int]) -> dict[int, FactsText]:
    """The summary rows of these hosts (those that have one) split into each tier's JSON text
    as it is (msgspec.Raw), never decoded: at a restart that is every host's, and decoding and
    encoding again cost 3 % of the start."""
    if not host_ids:
        return {}
    rows = HostSummary.objects.filter(host_id__in=host_ids).values_list(
        "host_id", Cast("facts", TextField())
    )
    return {
        host_id: {tier: bytes(raw) for tier, raw in _RAW_TIERS.decode(text).items()}
        for host_id, text in rows
    }


_RAW_TIERS = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _kernel(items: list[_Item]) -> None:
    by_host = _by_host([item for item in items if not item.memo.kernel_known])
    if by_host:
        known = Host.objects.filter(pk__in=by_host).exclude(kernel="").values_list("pk", flat=True)
        for host_id in known:
            for memo in by_host[host_id]:
                memo.kernel_known = True


def _guests(items: list[_Item]) -> None:
    """The guest index of hosts whose sample lists guests (a host without any holds none)."""
    by_host = _by_host([i for i in items if i.memo.guests is None and "guests" in i.data])
    if by_host:
        held: dict[int, dict[int, tuple]] = {host_id: {} for host_id in by_host}
        rows = Guest.objects.filter(host_id__in=by_host).values_list(
            "host_id", "vmid", *guestindex.RUNTIME_FIELDS
        )
        for host_id, vmid, *values in rows:
            held[host_id][vmid] = guestindex.held(*values)
        for host_id, memos in by_host.items():
            for memo in memos:
                memo.guests = dict(held[host_id])


def _by_host(items: list[_Item]) -> dict[int, list[Memo]]:
    by_host: dict[int, list[Memo]] = {}
    for item in items:
        memos = by_host.setdefault(item.host_id, [])
        if all(memo is not item.memo for memo in memos):
            memos.append(item.memo)
    return by_host


def _keyframes(items: list[_Item]) -> None:
    """Each host and tier's newest keyframe that can still serve a sample of the batch."""
    items = [item for item in items if item.tier not in item.memo.keyframes]
    if not items:
        return
    since = min(item.received_at for item in items) - KEYFRAME_EVERY
    newest: dict[tuple[int, str], tuple[int, datetime]] = {}
    rows = Keyframe.objects.filter(
        host_id__in={item.host_id for item in items}, created_at__gt=since
    ).values_list("host_id", "tier", "id", "created_at")
    for host_id, tier, keyframe_id, created_at in rows:
        if (host_id, tier) not in newest or created_at > newest[host_id, tier][1]:
            newest[host_id, tier] = (keyframe_id, created_at)
    for item in items:
        current = newest.get((item.host_id, item.tier), NO_KEYFRAME)
        item.memo.keyframes.setdefault(item.tier, current)


def _keyframe_texts_of(items: list[_Item]) -> None:
    """The keyframes the batch's samples will be compressed against, those not cached, in one
    read: with more hosts than the cache holds, nearly every sample's keyframe is missing."""
    wanted = set()
    for item in items:
        current = item.memo.keyframes.get(item.tier)
        if (
            current is not None
            and item.received_at - current[1] < KEYFRAME_EVERY
            and current[0] not in _keyframe_texts
        ):
            wanted.add(current[0])
    if wanted:
        for keyframe_id, stored in Keyframe.objects.filter(pk__in=wanted).values_list("pk", "data"):
            remember_keyframe(keyframe_id, codec.decompress(bytes(stored)))
