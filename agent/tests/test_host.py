from pathlib import Path

import pytest

from agent.collectors import host
from agent.machine import Machine, SourceError

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def put(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def advance_stat(text: str, busy: int, idle: int) -> str:
    """The same /proc/stat a moment later: `busy` more user ticks and `idle` more idle ticks."""
    lines = text.splitlines()
    fields = lines[0].split()
    fields[1] = str(int(fields[1]) + busy)
    fields[4] = str(int(fields[4]) + idle)
    return "\n".join([" ".join(fields), *lines[1:]]) + "\n"


def fake_host(root: Path) -> Machine:
    put(root, "/proc/stat", fixture("proc/stat-4cpu-gopsutil-424.txt"))
    put(root, "/proc/meminfo", fixture("proc/meminfo-kernel-6.12-64G.txt"))
    put(root, "/proc/loadavg", fixture("proc/loadavg.txt"))
    put(root, "/proc/uptime", fixture("proc/uptime.txt"))
    put(root, "/proc/sys/kernel/hostname", "pve-host-01.example.com\n")
    put(root, "/proc/sys/kernel/osrelease", "6.8.12-15-pve\n")
    return Machine(root=root, path=str(root / "no-bin"))


def test_stat_4cpu_sums_user_to_steal_and_counts_iowait_as_idle():
    stat = host.parse_stat(fixture("proc/stat-4cpu-gopsutil-424.txt"))
    assert stat == {"total": 134995333, "idle": 134953865, "cpus": 4}


def test_stat_8cpu_with_130kb_intr_line():
    stat = host.parse_stat(fixture("proc/stat-8cpu-procfs-fixture.txt"))
    assert stat == {"total": 9400890, "idle": 8982556, "cpus": 8}


def test_cpu_percent_is_busy_share_between_readings():
    before = {"total": 1000, "idle": 800, "cpus": 4}
    after = {"total": 1400, "idle": 1100, "cpus": 4}
    assert host.cpu_percent(before, after) == 25.0


def test_cpu_percent_is_zero_when_counters_do_not_advance():
    reading = {"total": 1000, "idle": 800, "cpus": 4}
    assert host.cpu_percent(reading, reading) == 0.0
    assert host.cpu_percent(reading, {"total": 900, "idle": 700, "cpus": 4}) == 0.0


def test_meminfo_intel_16g_in_bytes():
    mem = host.parse_meminfo(fixture("proc/meminfo-intel-core-i5-16G.txt"))
    assert mem == {"total": 16502300672, "used": 5006942208, "available": 11495358464}


def test_meminfo_kernel_6_12_64g_in_bytes():
    mem = host.parse_meminfo(fixture("proc/meminfo-kernel-6.12-64G.txt"))
    assert mem == {"total": 67000291328, "used": 2239868928, "available": 64760422400}


def test_meminfo_old_kernel_skips_legacy_total_table():
    mem = host.parse_meminfo(fixture("proc/meminfo-old-kernel-with-total-header.txt"))
    assert mem == {"total": 260579328, "used": 45379584, "available": 215199744}


def test_meminfo_without_memavailable_estimates_from_free_buffers_cached():
    text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"
    assert host.parse_meminfo(text) == {"total": 1024000, "used": 614400, "available": 409600}


def test_loadavg_three_values():
    assert host.parse_loadavg(fixture("proc/loadavg.txt")) == [0.10, 0.07, 0.01]


def test_uptime_whole_seconds():
    assert host.parse_uptime(fixture("proc/uptime.txt")) == 16072645


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (host.parse_stat, ""),
        (host.parse_stat, "intr 1 2 3\n"),
        (host.parse_stat, "cpu  a b c d\n"),
        (host.parse_stat, "cpu  1 2\n"),
        (host.parse_meminfo, ""),
        (host.parse_meminfo, "MemFree: 12 kB\n"),
        (host.parse_loadavg, ""),
        (host.parse_loadavg, "0.1 0.2\n"),
        (host.parse_loadavg, "high low none 1/2 3\n"),
        (host.parse_uptime, ""),
        (host.parse_uptime, "forever 12\n"),
        (host.parse_uptime, "nan 12\n"),
    ],
)
def test_malformed_proc_input_is_a_source_error(parser, text):
    with pytest.raises(SourceError):
        parser(text)


def test_first_collect_takes_two_readings_and_spawns_nothing(tmp_path, monkeypatch):
    machine = fake_host(tmp_path)
    stat = fixture("proc/stat-4cpu-gopsutil-424.txt")
    gaps = []

    def time_passes(seconds):
        gaps.append(seconds)
        put(tmp_path, "/proc/stat", advance_stat(stat, busy=30, idle=170))

    monkeypatch.setattr("time.sleep", time_passes)
    sample = host.collect(machine)
    assert gaps == [host.FIRST_READING_GAP_S]
    assert sample["cpu_percent"] == 15.0
    assert sample["hostname"] == "pve-host-01.example.com"
    assert sample["kernel"] == "6.8.12-15-pve"
    assert sample["cpus"] == 4
    assert sample["load"] == [0.10, 0.07, 0.01]
    assert sample["mem"] == {"total": 67000291328, "used": 2239868928, "available": 64760422400}
    assert sample["uptime_s"] == 16072645
    assert sample["rootfs"]["total"] > 0
    assert 0 <= sample["rootfs"]["used"] <= sample["rootfs"]["total"]
    assert machine.spawned == 0


def test_next_collect_uses_the_previous_cycle_without_sleeping(tmp_path, monkeypatch):
    machine = fake_host(tmp_path)
    stat = fixture("proc/stat-4cpu-gopsutil-424.txt")
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    host.collect(machine)

    def no_sleep(seconds):
        raise AssertionError("a later cycle must not sleep")

    monkeypatch.setattr("time.sleep", no_sleep)
    put(tmp_path, "/proc/stat", advance_stat(stat, busy=75, idle=25))
    assert host.collect(machine)["cpu_percent"] == 75.0


def test_missing_proc_file_is_a_source_error(tmp_path, monkeypatch):
    machine = fake_host(tmp_path)
    (tmp_path / "proc" / "meminfo").unlink()
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    with pytest.raises(SourceError, match="/proc/meminfo: missing"):
        host.collect(machine)
