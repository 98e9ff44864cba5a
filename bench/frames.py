"""Shared sample payloads for large simulated fleets: built once, filled in per sample.

    python -m bench.fleet ... --shared-payloads        # what bench/scale.py runs

bench/payloads.py builds every sample of every host from scratch (~3.5 ms a fast sample,
~9 ms a medium one, ~1 ms to set up a host): a fleet of 5,000 spent a core for a minute on
its first samples alone and its joins missed the server's deadline. Here a few template hosts
per scenario and guest count (bench/payloads.py hosts, `VARIANTS` layouts each) are built
once and encoded to JSON text with slots; a simulated host takes the template of its
scenario, guest count and index, and a sample is the template's text with the slots filled:

- per host: its name (`host.hostname`), the third and fourth octet of its guests' IPs and the
  fourth and fifth byte of their MACs (so no two hosts of a template share an address), its
  boot time (`uptime_s` of the host and its running guests);
- per sample (fast tier): the host's CPU, load and memory, each running guest's CPU and
  memory, from the same day rhythm and slow drifts as bench/payloads.py, shifted in time per
  host so that hosts of one template do not move in lockstep.

Everything else (pools, storages, guest list and configs, datasets, system facts) is the
template's, and `raw` (zpool and zfs JSON or text) is the same text in every sample, as on a
real idle host: `raw_same` agents make sense. Filling in a fast sample costs ~0.1 ms.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

from bench.payloads import GUESTS_PER_HOST, GiB, Host, drift

VARIANTS = 4  # template layouts per scenario and guest count
# Template hosts get an index whose IPs and MACs are found nowhere else in a payload.
TEMPLATE_INDEX = 0xEE00
SLOT = re.compile(r"@@(\w+)@@")
# The sources whose `raw` an agent may leave out with `raw_same` (docs/protocol.md).
RAW_SOURCES = ("zfs_pools", "datasets")


def without_raw(data: dict) -> tuple[str, dict | None]:
    """(the raw outputs as one text, the data with raw_same instead); (.., None): no raw."""
    raws, same = [], dict(data)
    for source in RAW_SOURCES:
        value = data.get(source)
        if isinstance(value, dict) and value.get("raw") is not None:
            raws.append(json.dumps(value["raw"], separators=(",", ":")))
            same[source] = {k: v for k, v in value.items() if k != "raw"} | {"raw_same": True}
    if not raws:
        return "", None
    return "\n".join(raws), same


def ip_prefix(index: int) -> str:
    """What a host's guest IPs begin with (bench/payloads.py Host._guest)."""
    return f"10.{index // 250 % 250}.{index % 250}."


def mac_prefix(index: int) -> str:
    return f"bc:24:11:{index // 256 % 256:02x}:{index % 256:02x}:"


class Text:
    """A JSON text with @@slot@@ markers: `fill(values)` puts values[slot] in each."""

    def __init__(self, text: str) -> None:
        parts = SLOT.split(text)
        self.pieces, self.slots = parts[0::2], parts[1::2]

    def fill(self, values: dict[str, str]) -> str:
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(values[slot])
            out.append(piece)
        return "".join(out)


class Template:
    """One template host: per tier its text with slots, and without raw (raw_same)."""

    def __init__(self, scenario: str, guests: int, variant: int) -> None:
        self.name = f"template-{scenario}-{guests}-{variant}"
        self.host = host = Host(TEMPLATE_INDEX + variant, self.name, scenario, guests)
        now = datetime.now(UTC)
        self.running = [g for g in host.guests if g["running"]]
        self.texts: dict[str, tuple[Text, str, Text | None]] = {}
        for tier in ("fast", "medium", "slow"):
            data = host.data(tier, now)
            if tier == "fast":
                self._mark_numbers(data)
            raw, same = without_raw(data)
            self.texts[tier] = (
                self._text(data),
                raw,
                None if same is None else self._text(same),
            )

    def _mark_numbers(self, data: dict) -> None:
        """The fast tier's numbers that change between samples become slots."""
        facts = data["host"]
        facts["hostname"] = "@@name@@"
        facts["cpu_percent"] = "@@cpu@@"
        facts["load"] = ["@@load0@@", "@@load1@@", "@@load2@@"]
        facts["mem"].update(used="@@used@@", available="@@available@@")
        facts["uptime_s"] = "@@up@@"
        running = {g["vmid"]: i for i, g in enumerate(self.running)}
        for guest in data["guests"]:
            i = running.get(guest["vmid"])
            if i is not None:
                guest.update(cpu_percent=f"@@gcpu{i}@@", mem=f"@@gmem{i}@@", uptime_s="@@up@@")

    def _text(self, data: dict) -> Text:
        text = json.dumps(data, separators=(",", ":"))
        text = text.replace('"@@', "@@").replace('@@"', "@@")  # unquoted: numbers go there
        index = self.host.index
        for prefix, slot in ((ip_prefix(index), "@@ip@@"), (mac_prefix(index), "@@mac@@")):
            text = text.replace(f'"{prefix}', f'"{slot}')
        if self.name in text:  # e.g. in a path: it would be the template's, not the host's
            raise ValueError(f"{self.name} left in a payload")
        return Text(text)


@cache
def template(scenario: str, guests: int, variant: int) -> Template:
    return Template(scenario, guests, variant)


class SharedHost:
    """A simulated host whose samples are a shared template's, filled in for it (see above)."""

    def __init__(
        self, index: int, name: str, scenario: str = "healthy", guests: int = GUESTS_PER_HOST
    ) -> None:
        self.index, self.name, self.scenario = index, name, scenario
        self.template = template(scenario, guests, index % VARIANTS)
        self.random = random.Random(index)  # per-sample jitter
        layout = random.Random(f"{index} {name}")
        self.offset = layout.uniform(0, 86400)  # where on the template's drifts it is
        born = self.template.host.born
        self.started = (born - timedelta(days=layout.randint(3, 200))).timestamp()
        self.fixed = {
            "name": json.dumps(name),  # the marker took the quotes
            "ip": ip_prefix(index),
            "mac": mac_prefix(index),
        }

    def numbers(self, at: float) -> dict[str, str]:
        """The fast tier's changing numbers at unix time `at`: bench/payloads.py Host.fast's
        formulas, on the template's drifts shifted by this host's offset."""
        host, seed = self.template.host, self.template.name
        shifted = at + self.offset
        values = dict(self.fixed)
        guests_mem = 0
        for i, guest in enumerate(self.template.running):
            wave = drift(f"{seed} {guest['vmid']}", shifted)
            mem = int(guest["memory"] * guest["mem_share"] * (1 + 0.15 * wave))
            guests_mem += mem
            values[f"gcpu{i}"] = f"{guest['cpu_share'] * (1 + 0.5 * wave):.1f}"
            values[f"gmem{i}"] = str(mem)
        day = math.sin(2 * math.pi * (at / 86400 - 1 / 3) + self.index * 0.1)

        def cpu_at(moment: float) -> float:
            return max(1.0, host.cpu_base + 10 * day + 5 * drift(f"{seed} cpu", moment))

        cpu = cpu_at(shifted) + max(-1.0, min(1.0, self.random.gauss(0, 0.5)))
        total = host.mem_total
        overhead = (6 + 0.04 * total / GiB) * GiB * (1 + 0.1 * drift(seed, shifted))
        used = min(int(guests_mem + overhead), total - GiB)
        loads = (cpu, cpu_at(shifted - 150), cpu_at(shifted - 450))
        for i, load in enumerate(loads):
            values[f"load{i}"] = f"{max(0.05, load / 8):.2f}"
        values.update(
            cpu=f"{max(0.5, cpu):.1f}",
            used=str(used),
            available=str(total - used),
            up=str(int(at - self.started)),
        )
        return values

    def payload(self, tier: str, now: datetime) -> tuple[str, str, Callable[[], str] | None]:
        """(data JSON, its raw outputs, a function giving the data JSON with raw_same instead,
        or None when the tier has no raw)."""
        text, raw, same = self.template.texts[tier]
        values = self.numbers(now.timestamp()) if tier == "fast" else self.fixed
        if same is None:
            return text.fill(values), raw, None
        return text.fill(values), raw, lambda: same.fill(values)

    def data(self, tier: str, now: datetime) -> dict:
        """The tier's data as a dict (bench/scale.py's warm-up stores it through ingest)."""
        return json.loads(self.payload(tier, now)[0])
