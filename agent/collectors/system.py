"""Versions and pending updates: Proxmox VE, kernel, ZFS, apt, this agent.

Each version that cannot be found is null, with its reason under the additive key `unavailable`
(`{"zfs_version": "zfs is not installed"}`); the source as a whole fails only when
`apt list --upgradable` fails, so that a broken apt is reported as an error.
`zfs_version` is the loaded kernel module's version (/sys/module/zfs/version, a file read),
falling back to the userland `zfs version` when the module is not loaded.
`pending_updates` counts what apt's last `apt update` knows about; the agent never runs
`apt update` itself (it changes the host).

For the fleet drift page (docs/protocol.md, additive keys), read from files only:
`kernel_newest`, the newest kernel installed (/boot/vmlinuz-<release>; the running one is
`kernel`); `kernel_pinned`, the kernel proxmox-boot-tool is pinned to (/etc/kernel/
proxmox-boot-pin), null when none is; `zfs_kmod`, the loaded module's version
(/sys/module/zfs/version); `zfs_userland`, the installed zfsutils-linux package's version
(/var/lib/dpkg/status). A reboot is due when the kernel the host boots next (pinned, else the
newest) is not the running one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import agent
from agent.collectors.pve import read_text
from agent.machine import Machine, NotApplicable, SourceError

SOURCE = "system"
TIER = "slow"

TIMEOUT_S = 20.0
APT_TIMEOUT_S = 60.0

# `<package>/<suites> <version> <arch> [...]`: the same in every locale, so counting by shape
# also copes with a localised header such as "En train de lister... Fait".
_APT_PACKAGE_LINE = re.compile(r"^[a-z0-9][a-z0-9+.-]*/\S+\s+\S+\s+\S+")
_APT_NOTES = ("WARNING:", "N:", "W:")
_VERBOSE_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.-]*):\s+(\S+)")
_DPKG_FIELD = re.compile(r"^(Package|Status|Version):[ \t]*(.*?)[ \t]*$", re.MULTILINE)
DPKG_STATUS = "/var/lib/dpkg/status"
KERNEL_PIN = "/etc/kernel/proxmox-boot-pin"  # proxmox-boot-tool kernel pin
ZFS_PACKAGE = "zfsutils-linux"


def parse_pveversion(text: str) -> str:
    """The pve-manager version of `pveversion`: `pve-manager/8.4.14/b502d23c... (running
    kernel: 6.8.12-15-pve)` gives "8.4.14" (and `pve-manager/7.3-3/...` "7.3-3")."""
    match = re.search(r"^pve-manager/([^/\s]+)", text, re.MULTILINE)
    if not match:
        raise SourceError("pveversion: no pve-manager/<version> line")
    return match.group(1)


def parse_pveversion_verbose(text: str) -> dict[str, str]:
    """Package versions of `pveversion -v`: `{"proxmox-ve": "9.1.0", "pve-manager": "9.1.1", ...}`.

    Trailing notes such as `(running kernel: ...)` are dropped; a package listed twice keeps
    its first version.
    """
    packages: dict[str, str] = {}
    for line in text.splitlines():
        match = _VERBOSE_LINE.match(line.strip())
        if match:
            packages.setdefault(match.group(1), match.group(2))
    if "pve-manager" not in packages:
        raise SourceError("pveversion -v: no pve-manager line")
    return packages


def parse_zfs_version(text: str) -> str:
    """The userland version of `zfs version`: first line `zfs-2.2.4-pve1` gives "2.2.4-pve1"."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not first.startswith("zfs-") or first.startswith("zfs-kmod-") or len(first) == 4:
        raise SourceError(f"zfs version: unexpected first line {first!r:.60}")
    return first[4:]


def parse_apt_upgradable(text: str) -> int:
    """The number of upgradable packages in `apt list --upgradable` (run with LC_ALL=C).

    Counts `package/suite version arch [...]` lines; a package listed twice counts once. The
    `Listing...` header (any first line with "...", so a localised one too), `WARNING:` and
    apt's `N:`/`W:` notes are skipped; any other line is a SourceError.
    """
    packages = set()
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines):
        if _APT_PACKAGE_LINE.match(line):
            packages.add(line.split("/", 1)[0])
        elif not (number == 0 and "..." in line) and not line.startswith(_APT_NOTES):
            raise SourceError(f"apt list: unexpected line {line.strip()!r:.60}")
    return len(packages)


def parse_dpkg_status(text: str, packages: Iterable[str]) -> dict[str, str]:
    """Versions of those of `packages` that are installed, from dpkg's status file
    (`/var/lib/dpkg/status`): stanzas whose `Status` ends in `installed`. A package listed for
    several architectures keeps its first version."""
    wanted = set(packages)
    found: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields = dict(_DPKG_FIELD.findall(stanza))
        name = fields.get("Package")
        installed = fields.get("Status", "").split()[-1:] == ["installed"]
        if name in wanted and name not in found and "Version" in fields and installed:
            found[name] = fields["Version"]
    return found


def release_key(release: str) -> tuple[int | str, ...]:
    """Order of kernel releases: numbers as numbers ("6.14.8-2-pve" after "6.8.12-15-pve")."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", release))


def newest_kernel(boot_files: Iterable[str]) -> str | None:
    """The newest release among `vmlinuz-<release>` names of a /boot listing, or None."""
    releases = [name[8:] for name in boot_files if name.startswith("vmlinuz-") and name[8:]]
    return max(releases, key=release_key, default=None)


def _optional_file(machine: Machine, path: str) -> str | None:
    try:
        return machine.read(path).strip() or None
    except (FileNotFoundError, SourceError):
        return None


def _drift(machine: Machine, result: dict[str, Any], unavailable: dict[str, str]) -> None:
    result["kernel_newest"] = newest_kernel(machine.listdir("/boot"))
    if result["kernel_newest"] is None:
        unavailable["kernel_newest"] = "no /boot/vmlinuz-* found"
    result["kernel_pinned"] = _optional_file(machine, KERNEL_PIN)
    result["zfs_kmod"] = _optional_file(machine, "/sys/module/zfs/version")
    if result["zfs_kmod"] is None:
        unavailable["zfs_kmod"] = "the zfs module is not loaded"
    try:
        status = machine.read(DPKG_STATUS)
    except (FileNotFoundError, SourceError) as exc:
        result["zfs_userland"] = None
        unavailable["zfs_userland"] = f"{DPKG_STATUS}: {getattr(exc, 'strerror', None) or exc}"
        return
    result["zfs_userland"] = parse_dpkg_status(status, [ZFS_PACKAGE]).get(ZFS_PACKAGE)
    if result["zfs_userland"] is None:
        unavailable["zfs_userland"] = f"{ZFS_PACKAGE} is not installed"


def _pve_version(machine: Machine) -> str:
    return parse_pveversion(machine.run(["pveversion"], timeout=TIMEOUT_S))


def _zfs_version(machine: Machine) -> str:
    try:
        version = machine.read("/sys/module/zfs/version").strip()
    except (FileNotFoundError, SourceError):
        version = ""
    if version:
        return version
    return parse_zfs_version(machine.run(["zfs", "version"], timeout=TIMEOUT_S))


def collect(machine: Machine) -> dict[str, Any]:
    result: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for key, find in (("pve_version", _pve_version), ("zfs_version", _zfs_version)):
        try:
            result[key] = find(machine)
        except (SourceError, NotApplicable) as exc:
            result[key] = None
            unavailable[key] = str(exc)
    try:
        result["kernel"] = read_text(machine, "/proc/sys/kernel/osrelease").strip() or None
    except SourceError as exc:
        result["kernel"] = None
        unavailable["kernel"] = str(exc)
    try:
        apt = machine.run(["apt", "list", "--upgradable"], timeout=APT_TIMEOUT_S)
    except NotApplicable as exc:
        result["pending_updates"] = None
        unavailable["pending_updates"] = str(exc)
    else:
        result["pending_updates"] = parse_apt_upgradable(apt)
    result["agent_version"] = agent.__version__
    _drift(machine, result, unavailable)
    result["unavailable"] = unavailable
    return result
