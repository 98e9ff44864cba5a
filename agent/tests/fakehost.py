"""A fake Proxmox VE host in a folder, for running the whole agent without a Proxmox host.

`build(base, scenario, guests)` writes:

    base/root/    what `--root` points at: proc/ (stat, meminfo, loadavg, uptime, hostname,
                  osrelease), etc/pve/nodes/<node>/{qemu-server,lxc}/<vmid>.conf, the pid
                  file plus /proc/<pid>/cmdline of the one running VM with a guest agent, and
                  the backup and replication files of fakehost_protection.py, pmxcfs's
                  .vmlist, .rrd and storage.cfg and, with five guests or more, the network
                  namespace of running container 104 (fakehost_pmxcfs.py), /sys/block and
                  /dev/disk/by-id (fakehost_disks.py)
    base/bin/     stand-ins for zpool, zfs, pvesh, pveversion, apt, qm and smartctl that print the
                  recorded outputs of agent/tests/fixtures/ (see SOURCES.md there) and append
                  their arguments to base/calls.log
    base/out/     outputs generated for this host (the guest list of `guests` guests)

The stand-ins are `/bin/sh` scripts that call `cat` and `sleep` by absolute path, so the agent's
PATH can be base/bin alone: nothing from the machine running the tests leaks in (a real `zpool`
there cannot turn "nozfs" into a ZFS host).

Scenarios:
    healthy   OpenZFS >= 2.3 (JSON output), two ONLINE pools, guests, storages, updates
    degraded  OpenZFS 2.2 (PVE 8.x: `-j` is rejected, text output): pool tank DEGRADED mid-resilver
    nozfs     no zpool and no zfs program at all
    hang      zpool never answers (sleeps): the agent's timeout must turn it into an error entry
    garbage   zpool exits 0 and prints something that is not its output
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from agent.collectors import datasets, zfs_pools
from agent.machine import Machine
from agent.tests import fakehost_disks, fakehost_pmxcfs, fakehost_protection

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
HANDMADE = HERE / "fakehost"

SCENARIOS = ("healthy", "degraded", "nozfs", "hang", "garbage")
NODE = "pve-fake"
FIRST_VMID = 100
KERNEL = "6.8.12-15-pve"  # the running kernel of pve/pveversion-8.4.14.txt

# Guest configs cycled through for any number of guests: (type, hand-made .conf, name key).
GUEST_CONFIGS = (
    ("qemu", "ansible-qemu-config-linux-cloudinit-agent.conf", "name"),
    ("lxc", "ansible-lxc-config-static-ip.conf", "hostname"),
    ("qemu", "api-qemu-config-pve8.1-tags.conf", "name"),
    ("qemu", "ansible-qemu-config-windows.conf", "name"),
    ("lxc", "api-lxc-config-dhcp-raw-lxc-keys.conf", "hostname"),
)
RUNNING_VMID = FIRST_VMID  # a QEMU guest with the guest agent enabled
RUNNING_LXC = FIRST_VMID + 4  # a container on DHCP (ip=dhcp), its addresses in its namespace
FAKE_QEMU_PID = 4_000_000  # above any real pid_max default, never a real process


@dataclass
class FakeHost:
    base: Path
    scenario: str
    guests: int
    node: str = NODE

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def bin(self) -> Path:
        return self.base / "bin"

    @property
    def calls_log(self) -> Path:
        return self.base / "calls.log"

    def machine(self) -> Machine:
        return Machine(root=self.root, path=str(self.bin))

    def env(self) -> dict[str, str]:
        """Environment for an agent subprocess: PATH is the stand-ins only."""
        return {**os.environ, "PATH": str(self.bin)}

    def calls(self) -> list[str]:
        """Every stand-in run so far, as "program arg ..." lines."""
        if not self.calls_log.exists():
            return []
        return self.calls_log.read_text().splitlines()


def build(
    base: Path,
    scenario: str = "healthy",
    guests: int = 3,
    node: str = NODE,
    pmxcfs: str | None = "pve9",
) -> FakeHost:
    """`pmxcfs`: the key generation of /etc/pve/.rrd ("pve9", "pve8"), or None for a host
    without the pmxcfs files, where the agent falls back to `pvesh`."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    host = FakeHost(Path(base), scenario, guests, node)
    for folder in (host.root, host.bin, host.base / "out"):
        folder.mkdir(parents=True, exist_ok=True)
    _proc(host)
    _guest_configs(host)
    if pmxcfs:
        fakehost_pmxcfs.build(host.root, host.node, _resource_entries(host), pmxcfs)
    if host.guests > RUNNING_LXC - FIRST_VMID:
        fakehost_pmxcfs.lxc_namespace(host.root, RUNNING_LXC)
    # jobs.cfg, task logs, replication files; the pvesh answers for the backup storages
    protection = fakehost_protection.build(host.root, host.base, host.node, host.guests)
    _programs(host, {arguments: _cat(path) for arguments, path in protection.items()})
    # /sys/block, /dev/disk/by-id and smartctl's recorded answers with their exit statuses
    smartctl = fakehost_disks.build(host.root, host.scenario)
    if smartctl is not None:
        cat = _tool("cat")
        cases = {
            args: f"{cat} {shlex.quote(str(out))}; exit {st}"
            for args, (out, st) in smartctl.items()
        }
        _script(host, "smartctl", cases)
    return host


# --- files -------------------------------------------------------------------------------------


def _proc(host: FakeHost) -> None:
    proc = host.root / "proc"
    (proc / "sys/kernel").mkdir(parents=True, exist_ok=True)
    for name, fixture in (
        ("stat", "proc/stat-4cpu-gopsutil-424.txt"),
        ("meminfo", "proc/meminfo-intel-core-i5-16G.txt"),
        ("loadavg", "proc/loadavg.txt"),
        ("uptime", "proc/uptime.txt"),
    ):
        shutil.copyfile(FIXTURES / fixture, proc / name)
    (proc / "sys/kernel/hostname").write_text(f"{host.node}\n")
    (proc / "sys/kernel/osrelease").write_text(f"{KERNEL}\n")


def _guest_configs(host: FakeHost) -> None:
    node_dir = host.root / "etc/pve/nodes" / host.node
    for folder in ("qemu-server", "lxc"):
        (node_dir / folder).mkdir(parents=True, exist_ok=True)
    for vmid, (kind, fixture, name_key) in _guests(host.guests):
        lines = (FIXTURES / "handmade" / fixture).read_text().splitlines()
        # Unique names, so that a search in the dashboard finds one guest per name.
        lines = [f"{line}-{vmid}" if line.startswith(f"{name_key}: ") else line for line in lines]
        folder = "qemu-server" if kind == "qemu" else "lxc"
        (node_dir / folder / f"{vmid}.conf").write_text("\n".join(lines) + "\n")
    if host.guests:
        # The first guest runs, so the medium tier asks its guest agent (one `qm` per cycle).
        run_dir = host.root / "var/run/qemu-server"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"{RUNNING_VMID}.pid").write_text(f"{FAKE_QEMU_PID}\n")
        cmdline = ["/usr/bin/kvm", "-id", str(RUNNING_VMID), "-name", f"test-qemu-{RUNNING_VMID}"]
        pid_dir = host.root / "proc" / str(FAKE_QEMU_PID)
        pid_dir.mkdir(parents=True, exist_ok=True)
        (pid_dir / "cmdline").write_text("\0".join(cmdline) + "\0")


def _guests(count: int) -> list[tuple[int, tuple[str, str, str]]]:
    return [
        (FIRST_VMID + index, GUEST_CONFIGS[index % len(GUEST_CONFIGS)]) for index in range(count)
    ]


def _resource_entries(host: FakeHost) -> list[dict]:
    """`/cluster/resources` entries of this host's guests, each a clone of the real PVE 8.1
    entry in pve/api-cluster-resources-type-vm-with-template-and-tags-pve8.1.json."""
    fixture = FIXTURES / "pve/api-cluster-resources-type-vm-with-template-and-tags-pve8.1.json"
    model = json.loads(fixture.read_text())["data"][1]
    entries = []
    for vmid, (kind, _, _) in _guests(host.guests):
        running = vmid in (RUNNING_VMID, RUNNING_LXC)
        entries.append(
            dict(
                model,
                vmid=vmid,
                id=f"{kind}/{vmid}",
                type=kind,
                name=f"guest-{vmid}",
                node=host.node,
                status="running" if running else "stopped",
                uptime=86400 if running else 0,
                cpu=0.0125 if running else 0,
                mem=1073741824 if running else 0,
            )
        )
    return entries


def _cluster_resources(host: FakeHost) -> Path:
    """`pvesh get /cluster/resources --type vm` for this host's guests."""
    path = host.base / "out/cluster-resources.json"
    entries = _resource_entries(host)
    path.write_text(json.dumps(entries, separators=(",", ":")))  # pvesh prints compact JSON
    return path


# --- programs ----------------------------------------------------------------------------------


def _programs(host: FakeHost, more_pvesh: dict[str, str]) -> None:
    pve, zfs, system = FIXTURES / "pve", FIXTURES / "zfs", FIXTURES / "system"
    _script(
        host,
        "pvesh",
        {
            "get /cluster/resources --type vm --output-format json": _cat(_cluster_resources(host)),
            f"get /nodes/{host.node}/storage --output-format json": _cat(
                pve / "api-node-storage-pve9-dir-zfspool-lvmthin.json"
            ),
            **more_pvesh,
        },
    )
    _script(host, "pveversion", {"": _cat(pve / "pveversion-8.4.14.txt")})
    _script(
        host,
        "apt",
        {"list --upgradable": _cat(system / "apt-list-upgradable-pve9-trixie-181-entries.txt")},
    )
    _script(
        host,
        "qm",
        {
            f"guest cmd {RUNNING_VMID} network-get-interfaces": _cat(
                pve / "ansible-agent-network-get-interfaces-linux-docker.json"
            )
        },
    )
    if host.scenario == "nozfs":
        return
    zpool_status_json = " ".join(zfs_pools.STATUS_JSON_ARGV[1:])
    zpool_list_json = " ".join(zfs_pools.LIST_JSON_ARGV[1:])
    zfs_list_json = " ".join(datasets.LIST_JSON_ARGV[1:])
    if host.scenario == "degraded":  # OpenZFS 2.2 as on PVE 8.x: no -j, text output
        rejected = "echo \"invalid option 'j'\" >&2; echo 'usage:' >&2; exit 2"
        zpool = {
            zpool_status_json: rejected,
            zpool_list_json: rejected,
            " ".join(zfs_pools.STATUS_TEXT_ARGV[1:]): _cat(_degraded_status(host)),
            " ".join(zfs_pools.LIST_TEXT_ARGV[1:]): _cat(HANDMADE / "zpool-list-Hp-draid-tank.txt"),
        }
        zfs_cases = {
            zfs_list_json: rejected,
            " ".join(datasets.LIST_TEXT_ARGV[1:]): _cat(zfs / "handmade-zfs-list-Hp-pve-rpool.txt"),
            "version": _cat(zfs / "zfs-version-proxmox-2.2.4-pve1.txt"),
        }
    else:
        zpool = {
            zpool_status_json: _cat(
                zfs / "zpool-status-flat-int-PL-raidz1x4-special-mirror-removal.json"
            ),
            zpool_list_json: _cat(zfs / "zpool-list-j-int-v-raidz1x4-special-indirect.json"),
        }
        zfs_cases = {
            zfs_list_json: _cat(zfs / "handmade-zfs-list-j-int-pve-rpool.json"),
            "version": _cat(zfs / "zfs-version-ubuntu-2.4.1.txt"),
        }
    if host.scenario == "hang":
        zpool = {"*": f"exec {_tool('sleep')} 3600"}
    elif host.scenario == "garbage":
        garbage = host.base / "out/zpool-garbage.txt"
        garbage.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe zpool: {{{ not, json ]]\n")
        zpool = {"*": _cat(garbage)}
    _script(host, "zpool", zpool)
    _script(host, "zfs", zfs_cases)


def _degraded_status(host: FakeHost) -> Path:
    """`zpool status -p` of a draid pool DEGRADED mid-resilver: the OpenZFS docs example plus
    the `errors:` line that every real `zpool status` ends with and the docs cut off."""
    fixture = FIXTURES / "zfs/zpool-status-text-draid-sequential-resilver-in-progress-docs.txt"
    path = host.base / "out/zpool-status-degraded.txt"
    path.write_text(fixture.read_text().rstrip("\n") + "\n\nerrors: No known data errors\n")
    return path


def _tool(name: str) -> str:
    found = shutil.which(name, path="/usr/bin:/bin")
    if found is None:
        raise RuntimeError(f"the fake host needs {name} in /usr/bin or /bin")
    return found


def _cat(path: Path) -> str:
    return f"exec {_tool('cat')} {shlex.quote(str(path))}"


def _script(host: FakeHost, program: str, cases: dict[str, str]) -> None:
    """A stand-in that runs the action of its exact argument string ("*": any arguments)."""
    lines = [
        "#!/bin/sh",
        f"# stand-in for {program}, fake host scenario {host.scenario}",
        f'echo "{program} $*" >> {shlex.quote(str(host.calls_log))}',
        'case "$*" in',
    ]
    for arguments, action in cases.items():
        pattern = "*" if arguments == "*" else shlex.quote(arguments)
        lines.append(f"  {pattern}) {action} ;;")
    lines += [
        "esac",
        f'echo "{program}: the fake host has no answer for: $*" >&2',
        "exit 2",
    ]
    path = host.bin / program
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
