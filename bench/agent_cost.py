"""What one collection cycle of each tier costs the host: processes started, CPU of the agent and
of the commands it runs, with `pvesh` costing what a real `pvesh` start costs.

    .venv/bin/python -m bench.agent_cost          # 50 guests, 10/3/2 cycles, pvesh 1.0 s of CPU
    .venv/bin/python -m bench.agent_cost --burn pvesh=0.5,qm=0.35,pveversion=0.1 --cycles 20

Builds the fake Proxmox host of agent/tests/fakehost.py twice: with pmxcfs's files (/etc/pve/
.rrd, .vmlist, storage.cfg: the agent reads guests and storages from them) and without (the
agent falls back to `pvesh`, as every agent before this change did). The stand-ins of the PVE
programs written in Perl (`pvesh`, `qm`, `pveversion`) are wrapped so that each start first
burns `--burn` seconds of CPU (a Perl loop on `times`, user+sys) and then prints the recorded
output: the stand-ins alone cost a `cat`, a real `pvesh` compiles the PVE API first
(docs/benchmarks.md says where the figures come from: bench/pvesh_compile.py).

Per tier, `--cycles` cycles of `collect_tier` run in this process after one warm-up cycle;
getrusage(RUSAGE_SELF) is the agent's CPU (collection and the JSON encoding of the sample),
getrusage(RUSAGE_CHILDREN) the commands'; processes are Machine.spawned. CPU per hour is per
cycle times 120 fast, 12 medium and 2 slow cycles (the default 30/300/1800 s). Not included:
the agent's WebSocket, buffer and idle wake-ups (bench.agent measures those: about 1.1 s of
CPU an hour), and what the real `zpool`, `zfs`, `apt` and `smartctl` cost (stand-ins).

Prints one JSON report on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent import collect  # noqa: E402
from agent.collect import collect_tier, make_sample, serialize  # noqa: E402
from agent.collectors import host  # noqa: E402
from agent.machine import Machine  # noqa: E402
from agent.tests import fakehost  # noqa: E402

CYCLES_PER_HOUR = {"fast": 3600 // 30, "medium": 3600 // 300, "slow": 3600 // 1800}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_cost", description=__doc__)
    parser.add_argument("--guests", type=int, default=50, help="guests on the fake host (50)")
    parser.add_argument(
        "--burn",
        default="pvesh=1.0,qm=0.7,pveversion=0.15",
        help="CPU seconds each start of these Perl programs burns (pvesh=1.0,qm=0.7,"
        "pveversion=0.15: the Perl each compiles, docs/benchmarks.md)",
    )
    parser.add_argument("--cycles", type=int, default=10, help="fast cycles measured (10)")
    args = parser.parse_args()
    host.FIRST_READING_GAP_S = 0.01  # the first /proc/stat reading of a new process
    perl = shutil.which("perl")
    if perl is None:
        parser.error("the stand-ins burn their CPU with perl, which is not installed")
    burn = {name: float(seconds) for name, seconds in (p.split("=") for p in args.burn.split(","))}
    cycles = {"fast": args.cycles, "medium": max(1, args.cycles // 3), "slow": 2}
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "guests": args.guests,
        "burn_cpu_s_per_start": burn,
        "cycles": cycles,
    }
    with tempfile.TemporaryDirectory(prefix="proxmon-bench-cost-") as workdir:
        for label, pmxcfs in (("pvesh (before)", None), ("pmxcfs (after)", "pve9")):
            fake = fakehost.build(
                Path(workdir) / str(pmxcfs), "healthy", args.guests, pmxcfs=pmxcfs
            )
            for program, seconds in burn.items():
                burn_cpu(fake, program, perl, seconds)
            report[label] = measure(fake, cycles)
    print(json.dumps(report, indent=2))


def burn_cpu(fake: fakehost.FakeHost, program: str, perl: str, seconds: float) -> None:
    """Each start of `program` burns `seconds` of CPU before the recorded answer."""
    stand_in = fake.bin / program
    recorded = fake.bin / f"{program}-recorded"
    stand_in.rename(recorded)
    loop = "my $t = shift; 1 while (times)[0] + (times)[1] < $t"
    stand_in.write_text(
        "#!/bin/sh\n"
        f"{shlex.quote(perl)} -e {shlex.quote(loop)} {seconds}\n"
        f'exec {shlex.quote(str(recorded))} "$@"\n'
    )
    stand_in.chmod(0o755)


def measure(fake: fakehost.FakeHost, cycles: dict[str, int]) -> dict:
    machine = Machine(root=fake.root, path=str(fake.bin))
    result: dict[str, Any] = {}
    for tier, count in cycles.items():
        collect._not_applicable.clear()
        collect._failing.clear()
        collect_tier(machine, tier)  # warm-up: imports, the ZFS JSON probe, first readings
        spawned = machine.spawned
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        errors: dict[str, str] = {}
        via = None
        for seq in range(count):
            data, errors = collect_tier(machine, tier)
            serialize(make_sample(tier, seq, time.time(), data, errors))
            via = data.get("via", via)
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        agent_ms = 1000 * _cpu(self_after, self_before) / count
        children_ms = 1000 * _cpu(children_after, children_before) / count
        per_hour = CYCLES_PER_HOUR[tier]
        result[tier] = {
            "processes_per_cycle": (machine.spawned - spawned) / count,
            "agent_cpu_ms_per_cycle": round(agent_ms, 1),
            "commands_cpu_ms_per_cycle": round(children_ms, 1),
            "cpu_s_per_hour": round((agent_ms + children_ms) * per_hour / 1000, 2),
            "errors": errors,
            "via": via,
        }
    result["cpu_s_per_hour"] = round(sum(t["cpu_s_per_hour"] for t in result.values()), 2)
    result["share_of_one_core"] = f"{100 * result['cpu_s_per_hour'] / 3600:.3f} %"
    return result


def _cpu(after: resource.struct_rusage, before: resource.struct_rusage) -> float:
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main()
