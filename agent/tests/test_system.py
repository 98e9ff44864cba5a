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
DPKG_STATUS = FIXTURES / "system" / "dpkg-status-debian12-excerpt.txt"
# The kernel releases of pve/pveversion-v-pve9.1.1.txt's kernel packages, and the running one
# of pveversion-8.4.14.txt.
KERNELS_PVE9 = ("6.17.2-1-pve", "6.14.11-4-pve", "6.14.8-2-pve")
ZFS_STANZA = (
    "Package: zfsutils-linux\nStatus: install ok installed\nArchitecture: amd64\n"
    "Version: 2.2.7-pve2\n"
)


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
    (root / "boot").mkdir()
    for name in ("vmlinuz-6.8.12-15-pve", "initrd.img-6.8.12-15-pve", "config-6.8.12-15-pve"):
        (root / "boot" / name).write_text("")
    (root / "var/lib/dpkg").mkdir(parents=True)
    # the real excerpt, with the stanza the zfsutils-linux package of PVE writes
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS.read_text() + ZFS_STANZA)
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
        "kernel_newest": "6.8.12-15-pve",
        "kernel_pinned": None,
        "zfs_kmod": "2.2.7-pve2",
        "zfs_userland": "2.2.7-pve2",
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
        "zfs_kmod": "the zfs module is not loaded",
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


# --- drift: kernels and ZFS, from files --------------------------------------------------------


def test_dpkg_status_gives_installed_versions_of_the_packages_asked_for():
    found = system.parse_dpkg_status(DPKG_STATUS.read_text(), ["libc6", "zlib1g", "zfsutils-linux"])
    assert found == {"libc6": "2.36-9+deb12u14", "zlib1g": "1:1.2.13.dfsg-1"}


def test_dpkg_status_skips_removed_packages_and_keeps_the_first_architecture():
    text = (
        "Package: zfsutils-linux\nStatus: deinstall ok config-files\nVersion: 2.1.6-pve1\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-8\n"
    )
    assert system.parse_dpkg_status(text, ["zfsutils-linux", "libc6"]) == {"libc6": "2.36-9"}
    assert system.parse_dpkg_status("", ["libc6"]) == {}
    assert system.parse_dpkg_status("garbage\n\x00\n", ["libc6"]) == {}


def test_newest_kernel_orders_releases_by_number_not_text():
    names = [f"vmlinuz-{release}" for release in ("6.8.12-15-pve", *KERNELS_PVE9)]
    names += ["initrd.img-6.99.1-1-pve", "System.map-7.0.0-1-pve", "vmlinuz-", "grub", "efi"]
    assert system.newest_kernel(names) == "6.17.2-1-pve"
    assert system.newest_kernel(["vmlinuz-6.8.12-9-pve", "vmlinuz-6.8.12-10-pve"]) == (
        "6.8.12-10-pve"
    )
    assert system.newest_kernel([]) is None


def test_collect_reports_a_newer_kernel_a_pin_and_a_zfs_mismatch(tmp_path):
    machine = fake_host(tmp_path)
    for release in KERNELS_PVE9:
        (tmp_path / "root/boot" / f"vmlinuz-{release}").write_text("")
    (tmp_path / "root/etc/kernel").mkdir(parents=True)
    (tmp_path / "root/etc/kernel/proxmox-boot-pin").write_text("6.14.8-2-pve\n")
    status = tmp_path / "root/var/lib/dpkg/status"
    status.write_text(status.read_text().replace("Version: 2.2.7-pve2", "Version: 2.2.8-pve1"))
    result = system.collect(machine)
    assert (result["kernel"], result["kernel_newest"]) == ("6.8.12-15-pve", "6.17.2-1-pve")
    assert result["kernel_pinned"] == "6.14.8-2-pve"
    assert (result["zfs_kmod"], result["zfs_userland"]) == ("2.2.7-pve2", "2.2.8-pve1")
    assert machine.spawned == 2  # files only: still pveversion and apt


def test_collect_without_boot_or_dpkg_status_says_why(tmp_path):
    machine = fake_host(tmp_path)
    shutil.rmtree(tmp_path / "root/boot")
    (tmp_path / "root/var/lib/dpkg/status").unlink()
    result = system.collect(machine)
    assert (result["kernel_newest"], result["zfs_userland"]) == (None, None)
    assert result["unavailable"]["kernel_newest"] == "no /boot/vmlinuz-* found"
    assert result["unavailable"]["zfs_userland"].startswith("/var/lib/dpkg/status")
