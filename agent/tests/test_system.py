import shutil
from pathlib import Path

import pytest

import agent
from agent.collectors import system
from agent.machine import Machine, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
PVEVERSION = FIXTURES / "pve" / "pveversion-8.4.14.txt"
APT_181 = FIXTURES / "system" / "apt-list-upgradable-pve9-trixie-181-entries.txt"
APT_FRENCH = FIXTURES / "system" / "apt-list-upgradable-pve8.2-french-locale.txt"
ZFS_PVE = FIXTURES / "zfs" / "zfs-version-proxmox-2.2.4-pve1.txt"


def test_pveversion_8_4_14():
    assert system.parse_pveversion(PVEVERSION.read_text()) == "8.4.14"


def test_pveversion_old_style_release_number():
    # The pve-manager line as PVE 7.3 prints it (its version is in pveversion-v-pve7.3.txt).
    line = "pve-manager/7.3-3/c3928077 (running kernel: 5.15.74-1-pve)\n"
    assert system.parse_pveversion(line) == "7.3-3"


def test_pveversion_verbose_pve9_1_1():
    packages = system.parse_pveversion_verbose(
        (FIXTURES / "pve" / "pveversion-v-pve9.1.1.txt").read_text()
    )
    assert packages["proxmox-ve"] == "9.1.0"
    assert packages["pve-manager"] == "9.1.1"
    assert packages["zfsutils-linux"] == "2.3.4-pve1"
    assert packages["proxmox-kernel-helper"] == "9.0.4"  # listed twice
    assert len(packages) == 59  # 60 lines, one package twice


def test_pveversion_verbose_pve7_3():
    text = (FIXTURES / "pve" / "pveversion-v-pve7.3.txt").read_text()
    packages = system.parse_pveversion_verbose(text)
    assert packages["proxmox-ve"] == "7.3-1"
    assert packages["pve-manager"] == "7.3-3"
    assert packages["pve-kernel-5.15.74-1-pve"] == "5.15.74-1"
    assert packages["zfsutils-linux"] == "2.1.6-pve1"


def test_zfs_version_proxmox():
    assert system.parse_zfs_version(ZFS_PVE.read_text()) == "2.2.4-pve1"


def test_zfs_version_ubuntu():
    text = (FIXTURES / "zfs" / "zfs-version-ubuntu-2.4.1.txt").read_text()
    assert system.parse_zfs_version(text) == "2.4.1-1ubuntu5.1"


def test_apt_upgradable_pve9_181_packages():
    assert system.parse_apt_upgradable(APT_181.read_text()) == 181


def test_apt_upgradable_counts_french_lines_by_shape():
    # Forced LC_ALL=C makes this output impossible, but the shape-based parser copes anyway.
    assert system.parse_apt_upgradable(APT_FRENCH.read_text()) == 4


def test_apt_upgradable_skips_header_and_notes():
    text = (
        "Listing... Done\n"
        + "".join(APT_181.read_text().splitlines(keepends=True)[:3])
        + "N: There is 1 additional version. Please use the '-a' switch to see it\n"
    )
    assert system.parse_apt_upgradable(text) == 3
    assert system.parse_apt_upgradable("Listing... Done\n") == 0
    assert system.parse_apt_upgradable("") == 0


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (system.parse_pveversion, ""),
        (system.parse_pveversion, "bash: pveversion: command not found\n"),
        (system.parse_pveversion_verbose, ""),
        (system.parse_pveversion_verbose, "proxmox-ve: 9.1.0\n"),
        (system.parse_zfs_version, ""),
        (system.parse_zfs_version, "zfs-kmod-2.2.4-pve1\n"),
        (system.parse_zfs_version, "The ZFS modules are not loaded.\n"),
        (system.parse_apt_upgradable, "E: Could not open lock file\n"),
        (system.parse_apt_upgradable, "Listing... Done\nrandom words here\n"),
    ],
)
def test_malformed_version_output_is_a_source_error(parser, text):
    with pytest.raises(SourceError):
        parser(text)


def stand_in(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
    (bin_dir / name).chmod(0o755)


def fake_host(tmp_path: Path, zfs_module: bool = True) -> Machine:
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("6.8.12-15-pve\n")
    if zfs_module:
        (root / "sys/module/zfs").mkdir(parents=True)
        (root / "sys/module/zfs/version").write_text("2.2.7-pve2\n")
    bin_dir = tmp_path / "bin"
    cat = shutil.which("cat")
    stand_in(bin_dir, "pveversion", f"exec {cat} {PVEVERSION}")
    stand_in(bin_dir, "apt", f'[ "$*" = "list --upgradable" ] || exit 2\nexec {cat} {APT_181}')
    stand_in(bin_dir, "zfs", f"exec {cat} {ZFS_PVE}")
    return Machine(root=root, path=str(bin_dir))


def test_collect_reads_versions_and_counts_updates(tmp_path):
    machine = fake_host(tmp_path)
    assert system.collect(machine) == {
        "pve_version": "8.4.14",
        "kernel": "6.8.12-15-pve",
        "zfs_version": "2.2.7-pve2",
        "pending_updates": 181,
        "agent_version": agent.__version__,
        "unavailable": {},
    }
    assert machine.spawned == 2  # pveversion, apt; the ZFS version is a file read


def test_collect_falls_back_to_zfs_version_without_the_module(tmp_path):
    machine = fake_host(tmp_path, zfs_module=False)
    assert system.collect(machine)["zfs_version"] == "2.2.4-pve1"
    assert machine.spawned == 3


def test_collect_on_a_host_without_zfs_or_pveversion_gives_nulls(tmp_path):
    machine = fake_host(tmp_path, zfs_module=False)
    (tmp_path / "bin" / "zfs").unlink()
    (tmp_path / "bin" / "pveversion").unlink()
    result = system.collect(machine)
    assert (result["pve_version"], result["zfs_version"]) == (None, None)
    assert result["unavailable"] == {
        "pve_version": "pveversion is not installed",
        "zfs_version": "zfs is not installed",
    }
    assert result["pending_updates"] == 181


def test_failing_apt_is_a_source_error(tmp_path):
    machine = fake_host(tmp_path)
    stand_in(tmp_path / "bin", "apt", "echo 'E: Could not open lock file' >&2; exit 100")
    with pytest.raises(SourceError, match="apt list --upgradable: E: Could not open lock file"):
        system.collect(machine)


def test_hanging_apt_is_a_source_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(system, "APT_TIMEOUT_S", 0.3)
    machine = fake_host(tmp_path)
    stand_in(tmp_path / "bin", "apt", f"exec {shutil.which('sleep')} 30")
    with pytest.raises(SourceError, match="timed out after 0.3 s"):
        system.collect(machine)


def test_hanging_pveversion_leaves_only_pve_version_null(tmp_path, monkeypatch):
    monkeypatch.setattr(system, "TIMEOUT_S", 0.3)
    machine = fake_host(tmp_path)
    stand_in(tmp_path / "bin", "pveversion", f"exec {shutil.which('sleep')} 30")
    result = system.collect(machine)
    assert result["pve_version"] is None
    assert result["unavailable"] == {"pve_version": "pveversion: timed out after 0.3 s"}
    assert result["pending_updates"] == 181
