"""py-spy profiles of a running server, summarised: where its CPU goes.

    .venv/bin/python -m bench.scale --agents 20 --duration 30 --saturate --profile var/sat.raw

py-spy comes with requirements-dev.txt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def profile(
    pid: int, seconds: float, delay: float, path: Path, gil: bool = False
) -> subprocess.Popen:
    """py-spy record of the server, all threads, raw (collapsed stacks) to `path`.

    With `gil`, only the thread holding the GIL is sampled: where the one core Python can use
    goes.
    """
    py_spy = Path(sys.executable).parent / "py-spy"
    command = (
        f"sleep {delay} && exec {py_spy} record -p {pid} -d {int(seconds)} -r 100"
        f" -f raw -o {path} -t --nonblocking{' --gil' if gil else ''}"
    )
    return subprocess.Popen(
        ["sh", "-c", command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _frame_key(frame: str) -> str:
    """`function (path/to/file.py:123)` -> `function (to/file.py)`: lines of one function merge."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(file.split('/')[-2:])})"


def summarize_profile(path: Path, top: int = 25) -> dict:
    """Share of samples per thread, and the functions with the most inclusive / own time."""
    threads: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0]
        threads[thread] = threads.get(thread, 0) + n
        seen = set()
        for frame in frames[1:]:
            key = _frame_key(frame)
            if key not in seen:
                inclusive[key] = inclusive.get(key, 0) + n
                seen.add(key)
        leaf = _frame_key(frames[-1])
        own[leaf] = own.get(leaf, 0) + n

    def share(table: dict[str, int]) -> list[list]:
        ranked = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return [[name, round(100 * n / total, 1)] for name, n in ranked]

    return {"samples": total, "threads_pct": share(threads), "inclusive_pct": share(inclusive),
            "own_pct": share(own)}  # fmt: skip
