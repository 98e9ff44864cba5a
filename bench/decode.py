"""Server CPU to read one sample frame: JSON parse and protocol check, nothing stored.

    flock -x /tmp/machine.lock .venv/bin/python -m bench.decode --frames 2000

Times, one frame after the other on one thread, what the consumer runs on each sample frame
before it is stored: `metrics.decode.decode_frame` (issue 11's typed decode), or on a checkout
from before issue 11 `metrics.consumers.decode_sample` (orjson/json and schema.py). Frames are
the 59 KB fast samples of bench/payloads.py (50 guests, 2 pools with raw zpool JSON), as the
agent serializes them, for `--hosts` simulated hosts; "raw_same" is the same frames with
`raw` replaced by `"raw_same": true` (what a raw_same agent sends when its pools did not
change). Prints the median and mean per frame in ms for each; with decode_frame also "raw every
time, unchanged (kept)": each host's raw kept from its previous frame, as the consumer keeps it,
so a raw sent again byte-identical is not scanned again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def frames(hosts: int, count: int) -> dict[str, list[str]]:
    from bench.payloads import Host, rfc3339

    simulated = [Host(i, f"pve{i:04d}") for i in range(hosts)]
    start = datetime.now(UTC) - timedelta(hours=1)
    full, same = [], []
    for n in range(count):
        host, when = simulated[n % hosts], start + timedelta(seconds=30 * (n // hosts))
        frame: dict[str, Any] = {
            "type": "sample",
            "seq": n,
            "tier": "fast",
            "collected_at": rfc3339(when),
            "data": host.data("fast", when),
            "errors": {},
        }
        full.append(json.dumps(frame, separators=(",", ":")))
        del frame["data"]["zfs_pools"]["raw"]
        frame["data"]["zfs_pools"]["raw_same"] = True
        same.append(json.dumps(frame, separators=(",", ":")))
    return {"raw every time": full, "raw_same": same}


def kept_times(texts: list[str], hosts: int) -> dict[str, float]:
    """decode_frame as the consumer calls it: with each host's raw kept from its previous
    frame (metrics.decode.KeptRaw), so a raw sent again unchanged is not scanned again."""
    from metrics.decode import KeptRaw, SampleFrame, decode_frame

    kept: dict[int, dict] = {}
    times = []
    for n, text in enumerate(texts):
        host = n % hosts
        t0 = time.perf_counter()
        result = decode_frame(text, kept.get(host))
        took = time.perf_counter() - t0
        assert isinstance(result, SampleFrame), result
        if n >= hosts:  # the first frame of each host has nothing kept
            times.append(took)
        before = kept.get(host, {}).get(result.tier, {})
        kept[host] = {
            result.tier: {
                s: before[s] if s in result.unchanged else KeptRaw.of(raw)
                for s, raw in result.raws.items()
            }
        }
    return {
        "median_ms": round(statistics.median(times) * 1000, 3),
        "mean_ms": round(statistics.mean(times) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    read: Callable[[str], Any]
    try:
        from metrics.decode import SampleFrame, decode_frame

        read = decode_frame

        def check(result: Any) -> None:
            assert isinstance(result, SampleFrame), result

        name = "metrics.decode.decode_frame"
    except ImportError:  # before issue 11
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")
        os.environ.setdefault("SECRET_KEY", "bench")
        django.setup()
        from metrics.consumers import decode_sample

        read = decode_sample

        def check(result: Any) -> None:
            assert result[1] is None, result

        name = "metrics.consumers.decode_sample"
    report: dict[str, object] = {"reader": name}
    built = frames(args.hosts, args.frames)
    if name == "metrics.decode.decode_frame":
        report["raw every time, unchanged (kept)"] = kept_times(built["raw every time"], args.hosts)
    for kind, texts in built.items():
        for text in texts[: args.hosts]:  # warm up
            check(read(text))
        times = []
        for text in texts:
            t0 = time.perf_counter()
            result = read(text)
            times.append(time.perf_counter() - t0)
            check(result)
        report[kind] = {
            "frame_kb": round(statistics.mean(len(t) for t in texts) / 1000, 1),
            "median_ms": round(statistics.median(times) * 1000, 3),
            "mean_ms": round(statistics.mean(times) * 1000, 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
