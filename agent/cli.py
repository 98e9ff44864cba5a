"""Command line of the agent.

    proxmon-agent run [--config /etc/proxmon/agent.toml]     the service (systemd)
    proxmon-agent collect --once [--root DIR] [--tier T]     one sample per tier as JSON, no server
    proxmon-agent --version

Exit status: 0 stopped by SIGTERM/SIGINT, 2 bad config or usage, 3 the server does not speak
this agent's protocol (4426; restarting cannot help, so systemd should not loop on it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import agent
from agent.buffer import Buffer
from agent.collect import collect_forever, make_sample, sample, serialize
from agent.collectors import TIERS
from agent.config import DEFAULT_PATH, Config, ConfigError, load
from agent.machine import Machine
from agent.reporter import Reporter

log = logging.getLogger("proxmon.agent")

EXIT_CONFIG = 2

_PRIORITIES = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class LogFormatter(logging.Formatter):
    """Plain text lines on stderr. Under systemd (JOURNAL_STREAM set) each line starts with its
    syslog priority (`<4>`), which journald turns into the entry's level and strips; the
    journal adds the time. Any secret given is replaced in the final text, tracebacks included,
    as a last guard for the token."""

    def __init__(self, journald: bool, secrets: Sequence[str] = ()) -> None:
        fmt = "%(levelname)s %(message)s" if journald else "%(asctime)s %(levelname)s %(message)s"
        super().__init__(fmt)
        self.journald = journald
        self.secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        if self.journald:
            prefix = f"<{_PRIORITIES.get(record.levelno, 6)}>"
            text = "\n".join(prefix + line for line in text.splitlines())
        return text


def setup_logging(debug: bool = False, secrets: Sequence[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(bool(os.environ.get("JOURNAL_STREAM")), secrets))
    logger = logging.getLogger("proxmon.agent")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    # Libraries log under their own names; websockets would log frames (with the token).
    logging.getLogger("websockets").setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxmon-agent",
        description="Collects the state of a Proxmox VE host and pushes it to a proxmon server.",
    )
    parser.add_argument("--version", action="version", version=f"proxmon-agent {agent.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the agent (the systemd service)")
    run.add_argument(
        "--config",
        default=DEFAULT_PATH,
        help=f"the TOML config file (default {DEFAULT_PATH})",
    )
    _add_root(run)
    run.add_argument("--debug", action="store_true", help="log every sample collected and acked")

    collect = commands.add_parser(
        "collect", help="collect once and print the samples as JSON (no server needed)"
    )
    collect.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="collect one sample per tier and exit (the only mode)",
    )
    collect.add_argument("--tier", choices=TIERS, help="only this tier (default: all three)")
    _add_root(collect)
    return parser


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default="/",
        metavar="DIR",
        help="read every host file under DIR (a copy of a host, for tests); commands come "
        "from PATH",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "collect":
        return collect_once(args.root, args.tier)
    return run(args.config, args.root, args.debug)


def collect_once(root: str, tier: str | None) -> int:
    """Print `{"fast": sample, "medium": ..., "slow": ...}` (or one tier) on stdout."""
    setup_logging()
    machine = Machine(root=root)
    tiers = (tier,) if tier else TIERS
    samples = {name: sample(machine, name, seq) for seq, name in enumerate(tiers, 1)}
    json.dump(samples, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def run(config_path: str, root: str, debug: bool) -> int:
    try:
        config = load(config_path)
    except ConfigError as exc:
        print(f"proxmon-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(debug, secrets=[config.token])
    return asyncio.run(run_agent(config, Machine(root=root)))


async def run_agent(
    config: Config,
    machine: Machine,
    *,
    stop: asyncio.Event | None = None,
) -> int:
    """The service: the three tier loops and the reporter, until SIGTERM/SIGINT or `stop`."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    buffer = Buffer.for_intervals(config.fast_seconds, config.medium_seconds, config.slow_seconds)
    reporter = Reporter(config, buffer)
    seqs = itertools.count(1)

    def deliver(tier: str, started: float, data: dict[str, Any], errors: dict[str, str]) -> None:
        seq = next(seqs)
        frame = make_sample(tier, seq, started, data, errors)
        text = serialize(frame)
        buffer.add(seq, text, label=f"{tier} {frame['collected_at']}")
        log.debug(
            "collected %s seq=%d collected_at=%s bytes=%d errors=%s",
            tier,
            seq,
            frame["collected_at"],
            len(text),
            ",".join(sorted(errors)) or "none",
        )
        reporter.wake()

    log.info(
        "proxmon agent %s starting: host %s, server %s, intervals %s",
        agent.__version__,
        config.host,
        config.server_url,
        "/".join(f"{seconds} s" for seconds in config.intervals.values()),
    )
    tiers = [
        asyncio.create_task(collect_forever(machine, tier, seconds, deliver))
        for tier, seconds in config.intervals.items()
    ]
    try:
        code = await reporter.run(stop)
    finally:
        for task in tiers:
            task.cancel()
        await asyncio.gather(*tiers, return_exceptions=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    if len(buffer):
        log.info("stopping with %d unacked sample(s), which are lost", len(buffer))
    log.info("stopped")
    return code
