"""A fleet of simulated agents speaking protocol v1 to a proxmon server over real sockets.

    python -m bench.fleet --url ws://127.0.0.1:8000/ws/agent --tokens TOKENS [options]

TOKENS holds one line per host: `name token [scenario [guests]]`. Each host joins, sends its
three tiers at their cadence (random phase, so a fleet does not send in lockstep), keeps unacked
samples and resends them after reconnecting, as the real agent does. Payloads come from
bench/payloads.py (real captured outputs). With --backfill-hours, each host first sends that
much fast history as a backlog, ending where its live samples begin. An "offline" host runs
for --offline-after seconds, then goes away for good. With --saturate, every host sends fast
samples back to back (a few in flight) to find the ingest ceiling. With --raw-same, a sample
whose raw output (`zfs_pools`, `datasets`) is the same as that of the tier's last sample the
server acked on this connection says `"raw_same": true` instead (docs/protocol.md); the first
sample of a tier on each connection, and every resent one, carries `raw`. With
--shared-payloads, samples are shared templates filled in per host and sample (bench/frames.py:
~0.15 ms a fast sample instead of ~3.5 ms), for fleets of thousands.

Prints a JSON report: samples acked, per second, ack latency percentiles, nacks, reconnects,
failed opening handshakes, when every agent's first three samples (the start) were acked, and
when this process's own event loop ran more than 50 ms late (`lags`); with --ack-times also
every ack as [sent s after start, ms].
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.reporter import PING_INTERVAL_S  # noqa: E402
from bench.frames import SharedHost, without_raw  # noqa: E402
from bench.monitor import watch_lag  # noqa: E402
from bench.payloads import GUESTS_PER_HOST, Host  # noqa: E402

TIERS = ("fast", "medium", "slow")


@dataclass
class Stats:
    acked: int = 0
    nacked: int = 0
    reconnects: int = 0
    joined: int = 0
    latencies: list[float] = field(default_factory=list)
    acks: list[tuple[float, float]] = field(default_factory=list)  # (sent s after start, ms)
    acks_by_tier: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # the same
    closes: dict[int, int] = field(default_factory=dict)
    handshake_failures: int = 0
    first_handshake_failure: str | None = None
    began: float = field(default_factory=time.perf_counter)
    started: list[float] = field(default_factory=list)  # s until an agent's first 3 were acked
    lags: list[tuple[float, float]] = field(default_factory=list)  # (s after start, ms) > 50 ms


def frame(seq: int, tier: str, collected_at: datetime, data_json: str) -> str:
    when = collected_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f'{{"type":"sample","seq":{seq},"tier":"{tier}","collected_at":"{when}",'
        f'"data":{data_json},"errors":{{}}}}'
    )


async def cadence(first_in: float, interval: float) -> AsyncIterator[None]:
    """Yield `first_in` seconds from now and then every `interval`, on a fixed cadence: a tick
    this process's loop overran is skipped, as the real agent skips them. Sleeping `interval`
    after each tick instead let every agent whose timer fell into a stall of this process's
    loop (the start's 5,000 handshakes) keep the phase the stall gave it: hundreds of agents
    sent samples in the same 100 ms every 30 s, and pings within one second every 20 s."""
    loop = asyncio.get_running_loop()
    due = loop.time() + first_in
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        yield
        due += interval
        while due <= loop.time():
            due += interval


class SimulatedAgent:
    def __init__(self, url, name, token, scenario, index, intervals, stats, args, guests=None):
        self.url, self.name, self.token = url, name, token
        kind = SharedHost if args.shared_payloads else Host
        self.host = kind(index, name, scenario, guests or GUESTS_PER_HOST)
        self.intervals = intervals
        self.stats = stats
        self.args = args
        self.seq = 0
        self.pending: dict[int, tuple[float, str]] = {}  # seq -> (sent at, frame)
        self.tiers: dict[int, str] = {}  # seq -> its tier (for latencies by tier)
        self.outbox: asyncio.Queue[int] = asyncio.Queue()
        self.cache: dict[str, tuple[str, str, Callable[[], str] | None]] = {}
        # --raw-same: seq -> (tier, its raw outputs, the frame with raw_same instead)
        self.same: dict[int, tuple[str, str, Callable[[], str]]] = {}
        self.first_acked = 0  # of its first three samples (one of each tier)
        self.acked_raw: dict[str, str] = {}  # tier -> raw of its last sample acked here

    def payload(self, tier: str, now: datetime) -> tuple[str, str, Callable[[], str] | None]:
        """(data JSON, its raw outputs, a function giving the data JSON with raw_same instead,
        or None)."""
        # Saturation reuses one payload per tier so the simulator is not the bottleneck.
        if (self.args.saturate or self.args.static_payloads) and tier in self.cache:
            return self.cache[tier]
        if isinstance(self.host, SharedHost):  # a template filled in: cheap (bench/frames.py)
            built = self.host.payload(tier, now)
        else:
            data = self.host.data(tier, now)
            raw, same = without_raw(data)
            text = json.dumps(data, separators=(",", ":"))
            if same is None:
                built = (text, raw, None)
            else:
                same_json = json.dumps(same, separators=(",", ":"))
                built = (text, raw, lambda: same_json)
        if not self.args.raw_same:
            built = (built[0], "", None)
        self.cache[tier] = built
        return built

    def collect(self, tier: str, now: datetime | None = None) -> None:
        self.seq += 1
        seq, now = self.seq, now or datetime.now(UTC)
        data, raw, same = self.payload(tier, now)
        self.pending[seq] = (0.0, frame(seq, tier, now, data))
        self.tiers[seq] = tier
        if same is not None:
            # built when it is sent that way: most samples of a tier are
            self.same[seq] = (tier, raw, lambda: frame(seq, tier, now, same()))
        self.outbox.put_nowait(seq)

    def text(self, seq: int) -> str:
        """What to send for `seq` now: without raw if the server acked the same raw here."""
        found = self.same.get(seq)
        if found is not None and self.acked_raw.get(found[0]) == found[1]:
            return found[2]()
        return self.pending[seq][1]

    def backfill(self, hours: float, step_s: float) -> None:
        """Samples "collected while the server was away": sent first, as a backlog. The last
        is one step before now, where the live samples take over on the same curves."""
        now = datetime.now(UTC)
        count = int(hours * 3600 / step_s)
        for i in range(count, 0, -1):
            self.collect("fast", now - timedelta(seconds=i * step_s))

    async def schedule(self, tier: str, interval: float) -> None:
        # As the real agent (agent/collect.py `collect_forever`): a fixed cadence from a random
        # phase (see `cadence`).
        async for _ in cadence(random.uniform(0, min(interval, self.intervals["fast"])), interval):
            self.collect(tier)

    async def run(self, deadline: float, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)  # --ramp: agents start one after the other
        if self.host.scenario == "offline":  # it leaves, and the server notices
            deadline = min(deadline, time.monotonic() + self.args.offline_after)
        tasks = []
        if not self.args.saturate:
            tasks = [asyncio.create_task(self.schedule(t, self.intervals[t])) for t in TIERS]
        backoff = 1.0
        try:
            while time.monotonic() < deadline:
                try:
                    await self.session(deadline)
                    backoff = 1.0
                except InvalidHandshake as exc:
                    # e.g. daphne refusing a connection its application did not accept in
                    # time: the real agent backs off and retries, so does the simulator
                    self.stats.handshake_failures += 1
                    self.stats.first_handshake_failure = (
                        self.stats.first_handshake_failure or str(exc)[:100]
                    )
                except (TimeoutError, OSError, ConnectionClosed) as exc:
                    code = getattr(getattr(exc, "rcvd", None), "code", None)
                    if code is not None:
                        self.stats.closes[code] = self.stats.closes.get(code, 0) + 1
                    if self.host.scenario == "offline" or code in (4401, 4426):
                        return
                if time.monotonic() >= deadline or self.host.scenario == "offline":
                    return
                self.stats.reconnects += 1
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 60)
        finally:
            for task in tasks:
                task.cancel()

    async def session(self, deadline: float) -> None:
        async with connect(self.url, open_timeout=60, max_size=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "join", "protocol": 1, "host": self.name,
                                      "token": self.token, "agent_version": "bench"}))  # fmt: skip
            reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if reply.get("type") != "joined":
                raise ConnectionClosed(None, None)
            self.stats.joined += 1
            self.acked_raw = {}  # raw_same refers to this connection only
            # what was not acked, in order, each once (as the real agent's buffer): samples
            # collected while no connection was up are queued already, and were sent twice
            while not self.outbox.empty():
                self.outbox.get_nowait()
            for seq in sorted(self.pending):
                self.outbox.put_nowait(seq)
            reader = asyncio.create_task(self.read(ws))
            pinger = asyncio.create_task(self.keepalive(ws))
            try:
                if self.args.saturate:
                    sender = asyncio.create_task(self.saturate(ws, deadline))
                else:
                    sender = asyncio.create_task(self.send_queued(ws))
                # As the real agent (agent/reporter.py): the session ends when either side
                # does, so a closed connection is noticed at once, not at the next sample.
                done, _ = await asyncio.wait(
                    {sender, reader},
                    timeout=max(0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
                for task in done:
                    task.result()  # ConnectionClosed, usually
            finally:
                reader.cancel()
                pinger.cancel()

    async def keepalive(self, ws) -> None:
        """A ping every 20 s, as the real agent's websockets keepalive, at a fixed cadence from
        the connection's opening (see `cadence`; the library's own sleeps after each ping)."""
        async for _ in cadence(PING_INTERVAL_S, PING_INTERVAL_S):
            try:
                await ws.ping()
            except ConnectionClosed:
                return  # the session notices on its own

    async def send_queued(self, ws) -> None:
        while True:
            seq = await self.outbox.get()
            if seq not in self.pending:
                continue
            _, text = self.pending[seq]
            self.pending[seq] = (time.perf_counter(), text)
            await ws.send(self.text(seq))

    async def saturate(self, ws, deadline: float) -> None:
        window = asyncio.Semaphore(self.args.in_flight)
        self.window = window
        while time.monotonic() < deadline:
            await window.acquire()
            self.collect("fast")
            seq = self.outbox.get_nowait()
            _, text = self.pending[seq]
            self.pending[seq] = (time.perf_counter(), text)
            await ws.send(self.text(seq))

    async def read(self, ws) -> None:
        async for message in ws:
            reply = json.loads(message)
            seq = reply.get("seq")
            sent = self.pending.pop(seq, None)
            if sent is None:
                continue
            same = self.same.pop(seq, None)
            tier = self.tiers.pop(seq, "")
            if reply["type"] == "ack":
                if same is not None:
                    self.acked_raw[same[0]] = same[1]
                now = time.perf_counter()
                if seq <= 3:  # the start: each tier's first sample
                    self.first_acked += 1
                    if self.first_acked == 3:
                        self.stats.started.append(now - self.stats.began)
                self.stats.acked += 1
                self.stats.latencies.append(now - sent[0])
                if self.args.ack_times:
                    ack = (round(sent[0] - self.stats.began, 2), round((now - sent[0]) * 1000, 1))
                    self.stats.acks.append(ack)
                    self.stats.acks_by_tier.setdefault(tier, []).append(ack)
            else:
                self.stats.nacked += 1
                print(f"{self.name}: nack {reply.get('error')}", file=sys.stderr)
            if self.args.saturate:
                self.window.release()


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main(args) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lines = [line.split() for line in Path(args.tokens).read_text().splitlines() if line.strip()]
    if args.hosts:
        lines = lines[: args.hosts]
    intervals = {"fast": args.fast, "medium": args.medium, "slow": args.slow}
    stats = Stats()
    deadline = time.monotonic() + args.duration
    agents = [
        SimulatedAgent(
            args.url[i % len(args.url)],  # several server processes: round robin
            parts[0],
            parts[1],
            parts[2] if len(parts) > 2 else "healthy",
            i,
            intervals,
            stats,
            args,
            int(parts[3]) if len(parts) > 3 else None,
        )  # fmt: skip
        for i, parts in enumerate(lines)
    ]
    if args.backfill_hours:
        for agent in agents:
            agent.backfill(args.backfill_hours, args.backfill_step)
    started = time.monotonic()
    stats.began = time.perf_counter()  # the agents set up: ack times count from here
    began_unix = time.time()
    ramp = args.ramp / max(1, len(agents))
    # As the server (metrics/management/commands/serve.py): what was set up lives to the end,
    # and young collections come every 50,000 allocations. With the defaults, a collection of
    # the 5,000 agents' objects stalled this loop for up to 0.6 s in the steady part of a run,
    # and the acks of that moment counted it.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    watcher = asyncio.create_task(watch_lag(stats.lags, stats.began))
    await asyncio.gather(*(agent.run(deadline, i * ramp) for i, agent in enumerate(agents)))
    watcher.cancel()
    elapsed = time.monotonic() - started
    ms = [v * 1000 for v in stats.latencies[args.skip :]] if stats.latencies else []
    report: dict[str, Any] = {
        "hosts": len(agents),
        "duration_s": round(elapsed, 1),
        "joined": stats.joined,
        "acked": stats.acked,
        "acked_per_s": round(stats.acked / elapsed, 1) if elapsed else None,
        "nacked": stats.nacked,
        "reconnects": stats.reconnects,
        "closes": stats.closes,
        "ack_ms_p50": round(statistics.median(ms), 1) if ms else None,
        "ack_ms_p99": round(percentile(ms, 99) or 0.0, 1) if ms else None,
        "ack_ms_max": round(max(ms), 1) if ms else None,
        # the start: every agent's first three samples (one per tier) acked, s after it began
        "start_acked_agents": len(stats.started),
        "start_drained_s": (
            round(max(stats.started), 1) if len(stats.started) == len(agents) else None
        ),
        "handshake_failures": stats.handshake_failures,
        "first_handshake_failure": stats.first_handshake_failure,
        "began_unix": began_unix,
        # this process's loop late by more than 50 ms: [s after start, ms]
        "lags": stats.lags,
    }
    if args.ack_times:
        report["acks"] = stats.acks
        report["acks_by_tier"] = stats.acks_by_tier
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, action="append", help="repeat: agents spread over them")
    p.add_argument("--tokens", required=True, help="file: name token [scenario [guests]]")
    p.add_argument("--hosts", type=int, default=0, help="use only the first N hosts")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--fast", type=float, default=30)
    p.add_argument("--medium", type=float, default=300)
    p.add_argument("--slow", type=float, default=1800)
    p.add_argument("--saturate", action="store_true", help="send fast samples back to back")
    p.add_argument("--in-flight", type=int, default=4, help="unacked samples per host (--saturate)")
    p.add_argument("--static-payloads", action="store_true", help="build each payload once")
    p.add_argument(
        "--shared-payloads",
        action="store_true",
        help="fill in shared templates instead of building each sample (bench/frames.py)",
    )
    p.add_argument(
        "--raw-same", action="store_true", help="raw_same instead of raw output acked already"
    )
    p.add_argument("--backfill-hours", type=float, default=0, help="send this much history first")
    p.add_argument(
        "--backfill-step", type=float, default=300, help="seconds between history samples"
    )
    p.add_argument("--offline-after", type=float, default=60, help="seconds an 'offline' host runs")
    p.add_argument("--skip", type=int, default=0, help="ignore the first N latencies (warm-up)")
    p.add_argument("--ack-times", action="store_true", help="report every ack: [sent s, ms]")
    p.add_argument(
        "--ramp", type=float, default=0, help="start the agents evenly over this many seconds"
    )
    return p


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parser().parse_args())), indent=2))
