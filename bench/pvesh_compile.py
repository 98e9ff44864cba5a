"""An estimate of the CPU one `pvesh` start costs, from the Perl it compiles, without a PVE host.

    .venv/bin/python -m bench.pvesh_compile SRC...   # SRC: checkouts of pve-manager, pve-common,
                                                     # pve-storage, qemu-server, pve-container, ...

`pvesh` is `use PVE::CLI::pvesh;`, which pulls in the whole API tree (PVE::API2 and everything it
`use`s: storage plugins, QEMU and LXC code, access control, HA, firewall, SDN). This follows the
static `use`/`require`/`use base|parent`/`subclass =>` references from PVE::CLI::pvesh through
the given checkouts (PVE modules only; CPAN and XS modules are not counted) and sums the source
bytes reached. It then measures how fast this machine's perl compiles PVE source: every module
of the checkouts that still compiles once all its `use` lines are dropped, each by its own
`perl -c` (user+sys of the children less as many runs of an empty program, best of three).
Bytes over rate is the compile CPU of one start: a lower bound of what a start costs (running
the handler, reading the cluster files and printing JSON come on top).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import tempfile
from pathlib import Path

DEPENDENCY = re.compile(
    r"^\s*(?:use|require)\s+(?:(?:base|parent)\s+(?:qw\s*[(/]\s*([^)/]+)[)/]|['\"]([\w:]+)['\"])"
    r"|([\w:]+))",
    re.M,
)
SUBCLASS = re.compile(r"subclass\s*=>\s*[\"']([\w:]+)[\"']")
USE = re.compile(r"^\s*(?:use|no)\s+[\w:]+[^;]*;", re.M)


def modules(sources: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for source in sources:
        for path in sorted(source.rglob("*.pm")):
            match = re.search(r"(PVE/.*)\.pm$", path.as_posix())
            if match and "/test/" not in path.as_posix():
                found.setdefault(match.group(1).replace("/", "::"), path)
    return found


def closure(found: dict[str, Path], start: str = "PVE::CLI::pvesh") -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in found:
            continue
        seen.add(name)
        text = found[name].read_text(errors="replace")
        for match in DEPENDENCY.finditer(text):
            names = (match.group(1) or match.group(2) or match.group(3) or "").split()
            todo.extend(n for n in names if n.startswith("PVE::"))
        todo.extend(SUBCLASS.findall(text))
    return seen


def standalone(text: str) -> str:
    text = USE.sub("", text)
    return "no strict; no warnings;\n" + re.sub(r"^__END__.*", "", text, flags=re.M | re.S)


def compile_rate(found: dict[str, Path]) -> tuple[int, float]:
    """(bytes, CPU seconds) of compiling the modules that compile on their own once every `use`
    is dropped (so that no dependency is loaded), each by its own `perl -c` (two modules may
    define the same function with different prototypes), less perl's start-up per run."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pl"
        empty.write_text("1;\n")
        programs = []
        for index, path in enumerate(found.values()):
            program = Path(tmp) / f"{index}.pl"
            program.write_text(standalone(path.read_text(errors="replace")))
            if subprocess.run(["perl", "-c", program], capture_output=True).returncode == 0:
                programs.append(program)
        best = float("inf")
        for _ in range(3):
            start_up = sum(_cpu(empty) for _ in programs)
            best = min(best, sum(_cpu(program) for program in programs) - start_up)
        return sum(program.stat().st_size for program in programs), best


def _cpu(program: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["perl", "-c", program], capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pvesh_compile", description=__doc__)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument(
        "--start",
        default="PVE::CLI::pvesh",
        help="the module the program loads (pvesh: PVE::CLI::pvesh, the default; qm: "
        "PVE::CLI::qm; pveversion: PVE::API2::APT)",
    )
    args = parser.parse_args()
    found = modules(args.sources)
    loaded = closure(found, args.start)
    loaded_bytes = sum(os.path.getsize(found[name]) for name in loaded)
    sample_bytes, sample_cpu = compile_rate(found)
    rate = sample_bytes / sample_cpu
    print(
        json.dumps(
            {
                "start": args.start,
                "pve_modules_found": len(found),
                "modules_loaded": len(loaded),
                "bytes_loaded": loaded_bytes,
                "compiled_sample_bytes": sample_bytes,
                "compiled_sample_cpu_s": round(sample_cpu, 3),
                "compile_rate_mb_per_cpu_s": round(rate / 1e6, 2),
                "compile_cpu_s": round(loaded_bytes / rate, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
