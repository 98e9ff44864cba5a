"""What a medium sample's guest configurations cost the guest index (metrics/guestindex.py).

    .venv/bin/python -m bench.guestindex [--guests 50] [--rounds 300]

In-process, SQLite in a temporary folder: one host's configurations (bench/frames.py, the
payloads bench.scale's fleet sends) indexed once, then `index_configs` timed (CPU of this
thread) with the same configurations, as most medium samples bring them, and with one guest's
addresses changed each round.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from datetime import UTC, datetime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    from bench.pages import setup_django

    setup_django(f"sqlite:///{tempfile.mkdtemp()}/db.sqlite3")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.frames import SharedHost
    from hosts.models import Host
    from metrics.guestindex import index_configs

    host = Host.objects.create(name="bench-host")
    configs = SharedHost(1, host.name, guests=args.guests).data("medium", datetime.now(UTC))
    configs = configs["guest_configs"]
    index_configs(host.pk, configs)

    def cpu_ms(change: bool) -> float:
        samples = [configs] * args.rounds
        if change:  # made before the clock runs
            samples = [copy.deepcopy(configs) for _ in range(args.rounds)]
            for n, sample in enumerate(samples):
                sample[0]["ips"] = [f"192.0.2.{n % 250}", f"198.51.100.{n // 250}"]
        began = time.thread_time()
        for sample in samples:
            assert index_configs(host.pk, sample) == change
        return round((time.thread_time() - began) / args.rounds * 1000, 3)

    report = {
        "guests": len(configs),
        "unchanged_cpu_ms": min(cpu_ms(False) for _ in range(3)),
        "one_changed_cpu_ms": min(cpu_ms(True) for _ in range(3)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
