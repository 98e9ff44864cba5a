"""The fake host's backups and replication: jobs.cfg, task index and logs, backup storages.

Built from the recorded files of fixtures/backups/ and fixtures/handmade/ (see SOURCES.md),
with their guest ids moved onto the fake host's guests and their times moved to "now", so
that ages mean something on a page:

    guest 100  covered by a job; newest backup 6 h ago on pbs-local, verified; last task ok
    guest 101  covered; newest backup 3 days ago; its last task (1 h ago) failed
    guest 102  covered by no job, no backup
    vmids 103 and 105  old vzdump archives on `local` (January 2025), from guests not here
    replication 100-0 fails (fail count 1), 101-0 synced 20 h ago on a weekday schedule

Without guests 100 and 101 (fewer than two guests) nothing is written: no jobs, no task, no
replication, and `pvesh` lists no backup storage.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
BACKUPS = FIXTURES / "backups"
HANDMADE = FIXTURES / "handmade"
HOUR = 3600


def build(root: Path, base: Path, node: str, guests: int, now: float | None = None) -> dict:
    """Write the files under `root` and return the `pvesh` cases {arguments: output file}."""
    out = base / "out"
    storages = out / "backup-storages.json"
    prefix = f"get /nodes/{node}/storage"
    listing = f"{prefix} --content backup --enabled 1 --output-format json"
    if guests < 2:
        storages.write_text("[]")
        return {listing: storages}
    now = int(now if now is not None else time.time())
    _jobs(root)
    _tasks(root, node, now)
    _replication(root, now)
    storages.write_text(json.dumps(_storage_list(), separators=(",", ":")))
    local = out / "content-local.json"
    local.write_text(
        (BACKUPS / "pvesh-storage-content-dir-lxc-vzdump-iobroker.json")
        .read_text()
        .replace("backup_pve:", "local:")
    )
    pbs = out / "content-pbs-local.json"
    pbs.write_text(json.dumps(_pbs_content(now), separators=(",", ":")))
    return {
        listing: storages,
        f"{prefix}/local/content --content backup --output-format json": local,
        f"{prefix}/pbs-local/content --content backup --output-format json": pbs,
    }


def _jobs(root: Path) -> None:
    """The real three-job file, its first two jobs moved onto guests 100 and 101."""
    text = (BACKUPS / "jobs-cfg-three-single-vmid-jobs.cfg").read_text()
    text = text.replace("\tvmid 200\n", "\tvmid 100\n").replace("\tvmid 111\n", "\tvmid 101\n")
    (root / "etc/pve/jobs.cfg").write_text(text)


def _storage_list() -> list[dict]:
    """`local` of the real PVE 9 storage list, and a PBS storage cloned from it."""
    listing = json.loads(
        (FIXTURES / "pve/api-node-storage-pve9-dir-zfspool-lvmthin.json").read_text()
    )
    local = next(entry for entry in listing["data"] if entry["storage"] == "local")
    return [local, dict(local, storage="pbs-local", type="pbs", content="backup")]


def _pbs_content(now: int) -> list[dict]:
    """Clones of the PBS entries of handmade/pvesh-storage-content-pbs-from-pbsplugin.json."""
    model = json.loads((HANDMADE / "pvesh-storage-content-pbs-from-pbsplugin.json").read_text())
    verified, failed, unverified = model[0], model[1], model[2]

    def clone(entry: dict, vmid: int, kind: str, ctime: int) -> dict:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctime))
        subtype = "qemu" if kind == "vm" else "lxc"
        return dict(
            entry,
            vmid=vmid,
            ctime=ctime,
            subtype=subtype,
            format=f"pbs-{kind}",
            volid=f"pbs-local:backup/{kind}/{vmid}/{stamp}",
            notes=f"guest {vmid}",
        )

    return [
        clone(verified, 100, "vm", now - 6 * HOUR),
        clone(failed, 100, "vm", now - 30 * HOUR),
        clone(unverified, 101, "ct", now - 72 * HOUR),
    ]


def _upid(node: str, pid: int, start: int, kind: str, vmid: str) -> str:
    return f"UPID:{node}:{pid:08X}:{start - 500_000:08X}:{start:08X}:{kind}:{vmid}:root@pam:"


def _tasks(root: Path, node: str, now: int) -> None:
    tasks = root / "var/log/pve/tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    ok_log = (BACKUPS / "vzdump-log-lxc-100-finished-cli.log").read_text()
    failed_log = (BACKUPS / "vzdump-task-log-lxc-107-failed-nfs-permission.log").read_text()
    failed_log = failed_log.replace("107", "101")
    runs = [
        (_upid(node, 0x3A21, now - 6 * HOUR - 600, "vzdump", "100"), now - 6 * HOUR, "OK", ok_log),
        (
            _upid(node, 0x3A99, now - HOUR, "vzdump", "101"),
            now - HOUR + 5,
            "job errors",
            failed_log,
        ),
    ]
    index = (BACKUPS / "tasks-index-tail-qmdelsnapshot.txt").read_text()
    for upid, end, status, log in runs:
        index += f"{upid} {end:08X} {status}\n"
        folder = tasks / upid.split(":")[4][7]
        folder.mkdir(exist_ok=True)
        (folder / upid).write_text(log)
    (tasks / "index").write_text(index)
    (tasks / "active").write_text((BACKUPS / "tasks-active-running-vzdump.txt").read_text())


def _replication(root: Path, now: int) -> None:
    cfg = (HANDMADE / "replication.cfg").read_text()
    (root / "etc/pve/replication.cfg").write_text(
        cfg.replace("local: 900-0", "local: 100-0").replace("local: 901-0", "local: 101-0")
    )
    state = json.loads((HANDMADE / "pve-replication-state.json").read_text())
    failing, synced = state["900"]["local/node2"], state["901"]["local/node2"]
    failing.update(last_sync=now - 2 * HOUR, last_try=now - 300, last_iteration=now - 300)
    synced.update(
        last_sync=now - 20 * HOUR, last_try=now - 20 * HOUR, last_iteration=now - 20 * HOUR
    )
    folder = root / "var/lib/pve-manager"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pve-replication-state.json").write_text(
        json.dumps({"100": state["900"], "101": state["901"]}, separators=(",", ":"))
    )
