"""Server time to render the overview, a search and the drift page with a big fleet in the
database.

    .venv/bin/python -m bench.pages --hosts 1000          # SQLite file in a temp folder
    DATABASE_URL=postgres://... .venv/bin/python -m bench.pages --hosts 1000
    .venv/bin/python -m bench.pages --hosts 1000 --live 60   # the live refresh only

Fills a fresh database through the real ingest path (metrics.ingest) with one sample per tier
per host from bench/payloads.py (50 guests each), then times full requests through Django's
stack (middleware, session, view, template) with the test client: median and max of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(database_url: str | None) -> None:
    os.environ.setdefault("SECRET_KEY", "bench-only-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["PROXMON_HTTPS"] = "0"
    os.environ["PROXMON_BACKGROUND"] = "0"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")
    import django

    django.setup()


def fresh_database(prefix: str) -> str:
    """A migrated database of its own for one benchmark run (DATABASE_URL's PostgreSQL server, or a
    SQLite file in a temp folder), Django set up on it; its URL."""
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/db"
    if url.startswith("postgres"):
        from liveserver import _create_database

        url = _create_database(url, f"{prefix.replace('-', '_')}{os.getpid()}")
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def fill(hosts: int) -> float:
    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics.ingest import ingest

    started = time.perf_counter()
    Host.objects.bulk_create(Host(name=f"pve{i:04d}", token_hash="x") for i in range(hosts))
    ids = dict(Host.objects.values_list("name", "id"))
    now = datetime.now(UTC)
    for i in range(hosts):
        name = f"pve{i:04d}"
        scenario = ("healthy",) * 8 + ("degraded", "full", "updates", "stale-snapshots")
        simulated = Simulated(i, name, scenario[i % len(scenario)])
        for seq, tier in enumerate(("fast", "medium", "slow")):
            frame = {"type": "sample", "seq": seq, "tier": tier, "collected_at": rfc3339(now),
                     "data": simulated.data(tier, now), "errors": {}}  # fmt: skip
            ingest(ids[name], "x", frame, now, None)
    Host.objects.update(status="online", last_seen_at=now)
    return time.perf_counter() - started


def change_one(index: int, seq: int, scenario: str) -> str:
    """A new fast sample of host `index` (as an agent sends it), stored: its name."""
    from bench.payloads import Host as Simulated
    from bench.payloads import rfc3339
    from hosts.models import Host
    from metrics.ingest import ingest

    name = f"pve{index:04d}"
    now = datetime.now(UTC)
    frame = {"type": "sample", "seq": seq, "tier": "fast", "collected_at": rfc3339(now),
             "data": Simulated(index, name, scenario).data("fast", now), "errors": {}}  # fmt: skip
    ingest(Host.objects.get(name=name).pk, "x", frame, now, None)
    Host.objects.filter(name=name).update(last_seen_at=now)
    return name


def live(client, hosts: int, changes: int) -> dict:
    """One open overview while one host a second sends a sample: the server CPU of the refresh
    the page asks for when the socket names the host (the ingest itself not counted), both
    ways: before (the whole #fleet, as the page asked until issue 11) and after (?hosts=<name>:
    the fleet line, the order and the one card). Every other change turns the host's tank 92 %
    full and back, so its card changes colour and place in the worst-first order."""
    htmx = {"HTTP_HX_REQUEST": "true"}
    ways = {
        "before_whole_fleet": lambda name: client.get("/", HTTP_HX_TARGET="fleet", **htmx),
        "after_changed_cards": lambda name: client.get(f"/?hosts={name}", **htmx),
    }
    result = {}
    for way, ask in ways.items():
        ask("pve0000")  # warm
        cpu, wall, sizes = [], [], []
        for k in range(changes):
            index = (k * 7919) % hosts  # spread over the fleet
            scenario = "full" if k % 2 == 0 else "healthy"
            name = change_one(index, 10 + k + (changes if way.startswith("after") else 0), scenario)
            started_cpu, started = time.process_time(), time.perf_counter()
            response = ask(name)
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            sizes.append(len(response.content))
        result[way] = {"refreshes": changes, "cpu_ms_median": round(statistics.median(cpu), 1),
                       "cpu_ms_mean": round(statistics.mean(cpu), 1),
                       "wall_ms_median": round(statistics.median(wall), 1),
                       "bytes_median": int(statistics.median(sizes)),
                       "cpu_share_at_1_per_s": f"{statistics.mean(cpu) / 10:.1f} %"}  # fmt: skip
    return result


def timed(client, url: str, repeats: int, before=lambda: None) -> dict:
    client.get(url)  # warm caches (templates, query plans)
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "bytes": len(response.content)}  # fmt: skip


def _forget_drift_rows() -> None:
    from dashboard import drift_page

    drift_page._rendered.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--live", type=int, default=0, metavar="N",
                        help="only the live refresh: N changes, one host each")  # fmt: skip
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='proxmon-pages-')}/db.sqlite3"
    setup_django(database_url)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    if connection.vendor == "postgresql":  # a fresh database for the run
        from liveserver import _create_database

        os.environ["DATABASE_URL"] = _create_database(database_url, f"proxmon_pages_{os.getpid()}")
        print("use a fresh PostgreSQL database per run: pass its URL", file=sys.stderr)
    call_command("migrate", verbosity=0)
    filled = fill(args.hosts)
    from dashboard import fleet
    from metrics.models import Guest

    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    if args.live:
        result = {"engine": connection.vendor, "hosts": args.hosts, "fill_s": round(filled, 1),
                  "live_refresh": live(client, args.hosts, args.live)}  # fmt: skip
        print(json.dumps(result, indent=2))
        return
    results = {
        "engine": connection.vendor,
        "hosts": args.hosts,
        "guests": Guest.objects.count(),
        "fill_s": round(filled, 1),
        "overview": timed(client, "/", args.repeats),
        "overview_cold": timed(client, "/", args.repeats, before=fleet._facts_cache.clear),
        "overview_critical": timed(client, "/?status=critical", args.repeats),
        "search_name": timed(client, "/vms/?q=nginx", args.repeats),
        "search_ip_exact": timed(client, "/vms/?q=10.2.17.33", args.repeats),
        "search_ip_prefix": timed(client, "/vms/?q=10.2.", args.repeats),
        "search_mac": timed(client, "/vms/?q=bc:24:11:02:11:21", args.repeats),
        "search_vmid": timed(client, "/vms/?q=142", args.repeats),
        "host_detail": timed(client, "/hosts/pve0007/", args.repeats),
        "drift": timed(client, "/drift/", args.repeats),
        "drift_cold": timed(client, "/drift/", args.repeats, before=_forget_drift_rows),
        "drift_sorted": timed(client, "/drift/?sort=-boot", args.repeats),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
