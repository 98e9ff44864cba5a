"""Addresses of running LXC containers, read from their network namespace through /proc.

A container on DHCP or SLAAC has no address in its config; the kernel knows it. Every process
sees its own network namespace under /proc/<pid>/net, so the container's init process shows
the container's addresses to the host, with no process started and nothing entered:

    /sys/fs/cgroup/lxc/<vmid>/ns[/init.scope]/cgroup.procs   the container's processes (PVE's
        cgroup layout: lxc.cgroup.dir.container = lxc/<vmid>, .inner = ns; pve-container
        src/PVE/LXC.pm); on a hybrid cgroup host the same under /sys/fs/cgroup/unified
    /proc/<pid>/status   `NSpid: <host pid> 1`: the one whose pid inside the container is 1
    /proc/<pid>/net/fib_trie   IPv4: `cat /proc/<pid>/net/fib_trie`, "/32 host LOCAL" leaves
    /proc/<pid>/net/if_inet6   IPv6: `cat /proc/<pid>/net/if_inet6`

(PVE itself asks `lxc-info -n <vmid> -p` for the pid, a process per container.) Loopback,
link-local, temporary (privacy), tentative and failed-DAD addresses are left out: the first two
reach nothing from outside, the others change or do not work.
"""

from __future__ import annotations

import ipaddress
import re

from agent.machine import Machine, SourceError

CGROUP_ROOTS = ("/sys/fs/cgroup/lxc", "/sys/fs/cgroup/unified/lxc")
# Where the container's init lives: systemd moves itself to init.scope, other inits stay in ns.
_INIT_CGROUPS = ("ns/init.scope", "ns")
MAX_CANDIDATES = 64

# include/uapi/linux/if_addr.h
IFA_F_TEMPORARY = 0x01
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
_SKIP_FLAGS = IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_TENTATIVE

_LEAF = re.compile(r"^\s*\|--\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$")
_ALIAS = re.compile(r"^\s*/(\d+)\s+(\S+)\s+(\S+)")


def parse_fib_trie(text: str) -> list[str]:
    """The IPv4 addresses of `cat /proc/<pid>/net/fib_trie` (kernel net/ipv4/fib_trie.c).

    A leaf line `|-- 172.20.0.2` is followed by its aliases `/32 host LOCAL`: a /32 LOCAL alias
    is an address of an interface of this namespace. The Main and Local tables both list it.
    """
    addresses: list[str] = []
    leaf: str | None = None
    for line in text.splitlines():
        match = _LEAF.match(line)
        if match:
            leaf = match.group(1)
            continue
        alias = _ALIAS.match(line)
        if alias and leaf is not None:
            if alias.group(1) == "32" and alias.group(3) == "LOCAL":
                _add(addresses, leaf)
        else:
            leaf = None  # a `+--` node or a table name ends the leaf
    return addresses


def parse_if_inet6(text: str) -> list[str]:
    """The IPv6 addresses of `cat /proc/<pid>/net/if_inet6` (kernel net/ipv6/addrconf.c).

    Each line: 32 hex digits of the address, then interface index, prefix length, scope and
    flags in hex, then the interface name. Malformed lines are skipped.
    """
    addresses: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or len(parts[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(parts[0])
            flags = int(parts[4], 16)
        except ValueError:
            continue
        if flags & _SKIP_FLAGS:
            continue
        _add(addresses, str(ipaddress.IPv6Address(packed)))
    return addresses


def _add(addresses: list[str], text: str) -> None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return
    if address.is_loopback or address.is_link_local or address.is_unspecified:
        return
    if str(address) not in addresses:
        addresses.append(str(address))


def init_pid(machine: Machine, vmid: int) -> int | None:
    """The host pid of the container's init, or None when the container is not running."""
    checked = 0
    for root in CGROUP_ROOTS:
        for inner in _INIT_CGROUPS:
            try:
                procs = machine.read(f"{root}/{vmid}/{inner}/cgroup.procs").split()
            except (FileNotFoundError, SourceError):
                continue
            for pid in procs:
                if checked >= MAX_CANDIDATES:
                    return None
                if not pid.isdigit():
                    continue
                checked += 1
                if _pid_one_inside(machine, int(pid)):
                    return int(pid)
    return None


def _pid_one_inside(machine: Machine, pid: int) -> bool:
    """`NSpid: <host pid> 1`: pid 1 of a namespace one level down, i.e. the container's init
    (a Docker container inside it would show three levels)."""
    try:
        status = machine.read(f"/proc/{pid}/status")
    except (FileNotFoundError, SourceError):
        return False  # exited meanwhile
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return line.split()[1:] == [str(pid), "1"]
    return False


def addresses(machine: Machine, vmid: int) -> list[str] | None:
    """The addresses of a running container (IPv4 first), or None when it is not running.

    Raises SourceError when the namespace's files cannot be read.
    """
    pid = init_pid(machine, vmid)
    if pid is None:
        return None
    found: list[str] = []
    for name, parse in (("fib_trie", parse_fib_trie), ("if_inet6", parse_if_inet6)):
        try:
            text = machine.read(f"/proc/{pid}/net/{name}")
        except FileNotFoundError:
            continue  # a kernel without IPv6 has no if_inet6
        found.extend(parse(text))
    return found
