"""The fake host's pmxcfs files and a running container's network namespace.

etc/pve/.vmlist      the fake host's guests, in pmxcfs's own layout (status.c)
etc/pve/.rrd         pvestatd's status line of each guest (from the same entries the `pvesh`
                     stand-in prints, so both paths must give the same sample), of the
                     node, and of the storages of pve/api-node-storage-pve9-dir-zfspool-
                     lvmthin.json; in PVE 9's keys (`pve-*-9.0/`) or PVE 7/8's
etc/pve/storage.cfg  the definitions of those three storages
sys/fs/cgroup/lxc/<vmid>/ns/init.scope/cgroup.procs, proc/<pid>/status (NSpid),
proc/<pid>/net/{fib_trie,if_inet6}
                     a running container whose namespace holds a DHCP-style IPv4 address
                     (proc/net-fib_trie-docker-container-172.20.0.2.txt) and SLAAC IPv6
                     ones (proc/net-if_inet6-slaac-gua-ula-proxmox-mac.txt)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
STORAGE_LIST = FIXTURES / "pve/api-node-storage-pve9-dir-zfspool-lvmthin.json"
FIB_TRIE = FIXTURES / "proc/net-fib_trie-docker-container-172.20.0.2.txt"
IF_INET6 = FIXTURES / "proc/net-if_inet6-slaac-gua-ula-proxmox-mac.txt"
FAKE_LXC_PID = 4_000_001  # above any real pid_max default, never a real process
# What the namespace holds, as the agent must report it (IPv4 first, temporary ones left out).
NAMESPACE_IPS = [
    "172.20.0.2",
    "2603:8002:7900:22f1:be24:11ff:fe93:59e7",
    "2603:8002:7900:22f1:7848:c633:b5de:d169",
    "fdea:894a:d11a:1:6669:5e4:94a1:ab7e",
    "fdea:894a:d11a:1:be24:11ff:fe93:59e7",
]
GENERATIONS = {
    "pve9": ("pve-node-9.0", "pve-vm-9.0", "pve-storage-9.0"),
    "pve8": ("pve2-node", "pve2.3-vm", "pve2-storage"),
}


def build(root: Path, node: str, entries: list[dict], generation: str = "pve9") -> None:
    """Write .vmlist, .rrd and storage.cfg for `entries` (`/cluster/resources` entries)."""
    pve = root / "etc/pve"
    pve.mkdir(parents=True, exist_ok=True)
    ids = ",\n".join(
        f'"{e["vmid"]}": {{ "node": "{node}", "type": "{e["type"]}", "version": {i + 1} }}'
        for i, e in enumerate(entries)
    )
    version = len(entries) + 1
    if entries:
        vmlist = f'{{\n"version": {version},\n"ids": {{\n{ids}}}\n\n}}\n'
    else:
        vmlist = f'{{\n"version": {version}\n\n}}\n'
    (pve / ".vmlist").write_text(vmlist)
    node_key, vm_key, storage_key = GENERATIONS[generation]
    now = int(time.time())
    extra = generation == "pve9"
    # uptime:sublevel:ctime:loadavg:maxcpu:cpu:iowait:memtotal:memused:swaptotal:swapused:
    # roottotal:rootused:netin:netout (PVE 9: + memavailable:arcsize and five pressures)
    node_fields = [86400, "", now, 0.5, 4, 0.05, 0.01, 16 << 30, 4 << 30, 0, 0, 100 << 30]
    node_fields += [20 << 30, 1000, 2000] + ([12 << 30, 1 << 30, 0, 0, 0, 0, 0] if extra else [])
    lines = [f"{node_key}/{node}:" + ":".join(map(str, node_fields))]
    for e in entries:
        lines.append(f"{vm_key}/{e['vmid']}:" + ":".join(_vm_fields(e, now, extra)))
    storages = json.loads(STORAGE_LIST.read_text())["data"]
    for s in storages:
        lines.append(f"{storage_key}/{node}/{s['storage']}:{now}:{s['total']}:{s['used']}")
    (pve / ".rrd").write_text("\n".join(lines) + "\n\0")  # pmxcfs ends the dump with a NUL
    sections = [
        f"{s['type']}: {s['storage']}\n"
        + ("\tpath /var/lib/vz\n" if s["type"] == "dir" else "")
        + f"\tcontent {s['content']}\n"
        for s in storages
    ]
    (pve / "storage.cfg").write_text("\n".join(sections))


def _vm_fields(e: dict, now: int, extra: bool) -> list[str]:
    running = e["status"] == "running"
    values = [
        e["uptime"] if running else 0,
        e["name"],
        e["status"],
        e.get("template", 0),
        now,
        e["maxcpu"],
        e["cpu"] if running else None,
        e["maxmem"],
        e["mem"] if running else None,
        e["maxdisk"],
        e["disk"],
    ]
    values += [e[k] if running else None for k in ("netin", "netout", "diskread", "diskwrite")]
    if extra:  # memhost and six pressures
        values += [e["mem"] if running else None] + [0.0 if running else None] * 6
    return ["U" if value is None else str(value) for value in values]


def lxc_namespace(root: Path, vmid: int) -> None:
    """Container `vmid` runs: its init in PVE's cgroup, its namespace's address files."""
    cgroup = root / f"sys/fs/cgroup/lxc/{vmid}/ns/init.scope"
    cgroup.mkdir(parents=True, exist_ok=True)
    (cgroup / "cgroup.procs").write_text(f"{FAKE_LXC_PID}\n")
    proc = root / f"proc/{FAKE_LXC_PID}"
    (proc / "net").mkdir(parents=True, exist_ok=True)
    (proc / "status").write_text(
        f"Name:\tsystemd\nState:\tS (sleeping)\nPid:\t{FAKE_LXC_PID}\nNSpid:\t{FAKE_LXC_PID}\t1\n"
    )
    (proc / "net/fib_trie").write_text(FIB_TRIE.read_text())
    (proc / "net/if_inet6").write_text(IF_INET6.read_text())
