"""The fake host's disks: /sys/block, /dev/disk/by-id and the answers of a stand-in smartctl.

Every answer is a recorded smartctl JSON of fixtures/smartctl/ (see SOURCES.md there) with the
exit status smartctl gave with it:

    healthy (and hang, garbage)
        sda      SATA HDD (WD Red), PASSED                          exit 0
        sdb      SATA SSD (Samsung), PASSED                         exit 0
        sdc      SATA HDD in standby: not woken                     exit 2
        nvme0n1  NVMe (Samsung 970 EVO Plus), PASSED                exit 0
    degraded
        sda      as above
        sdb      failing HDD: SMART FAILED, 1975 reallocated, 8 pending   exit 216
        sdc      in standby                                         exit 2
        sdd      cannot be opened ("No such device")                exit 2
        nvme0n1  critical warning 16, SMART FAILED                  exit 8
        nvme1n1  7 media errors, 3 % used                           exit 0
    nozfs
        the same disks as healthy, but no smartctl: the source is not applicable

Beside them /sys/block holds devices that are not disks (loop0, zd0, dm-0, md0, sr0, nbd0,
rbd0, ram0), and /dev/disk/by-id links partitions and a device-mapper volume too, so that the
agent's filters are exercised. The healthy scenario's pool `tank` names its leaves
/dev/sda1, /dev/sdb1, /dev/sdc1 (fixtures/zfs, `zpool status -PL`): sda-sdc are in it.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.collectors import disks

SMARTCTL = Path(__file__).parent / "fixtures" / "smartctl"

HEALTHY = {
    "sda": ("ata-hdd-wdc-wd20efrx-red-healthy.json", 0),
    "sdb": ("ata-ssd-samsung-mz7wd240-healthy.json", 0),
    "sdc": ("ata-hdd-standby-smartctl74-reconstructed.json", 2),
    "nvme0n1": ("nvme-samsung-970-evo-plus-healthy.json", 0),
}
DEGRADED = {
    "sda": HEALTHY["sda"],
    "sdb": ("ata-hdd-hitachi-hds721050-failed-usb-jmicron.json", 216),
    "sdc": HEALTHY["sdc"],
    "sdd": ("open-failed-no-such-device-scrutiny-issue157.json", 2),
    "nvme0n1": ("nvme-samsung-mzwll3t2-critical-warning-volatile-backup-failed.json", 8),
    "nvme1n1": ("nvme-samsung-970-evo-media-errors.json", 0),
}
NOT_DISKS = ("loop0", "zd0", "dm-0", "md0", "sr0", "nbd0", "rbd0", "ram0")

# /dev/disk/by-id as udev writes it: the disk, its partitions, a WWN alias.
BY_ID = {
    "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE01": "sda",
    "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE01-part1": "sda1",
    "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE01-part9": "sda9",
    "wwn-0x50014ee0fake0001": "sda",
    "ata-SAMSUNG_MZ7WD240HAFV-00003_S16LNYFAKE02": "sdb",
    "ata-SAMSUNG_MZ7WD240HAFV-00003_S16LNYFAKE02-part1": "sdb1",
    "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE03": "sdc",
    "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE03-part1": "sdc1",
    "ata-Hitachi_HDS721050DLE630_MSK423Y20S3HBC": "sdd",
    "nvme-Samsung_SSD_970_EVO_Plus_250GB_S4EUNX0FAKE04": "nvme0n1",
    "nvme-eui.0025385fake00004": "nvme0n1",
    "nvme-Samsung_SSD_970_EVO_500GB_S466NX0M776250H": "nvme1n1",
    "dm-name-pve-root": "dm-0",
}


def answers(scenario: str) -> dict[str, tuple[str, int]]:
    """{device: (fixture file, exit status)} of the scenario's disks."""
    return DEGRADED if scenario == "degraded" else HEALTHY


def build(root: Path, scenario: str) -> dict[str, tuple[Path, int]] | None:
    """Write /sys/block and /dev/disk/by-id under `root`; return the stand-in smartctl's cases
    {arguments: (output file, exit status)}, or None when the host has no smartctl."""
    devices = answers(scenario)
    block = root / "sys/block"
    for name in (*devices, *NOT_DISKS):
        (block / name).mkdir(parents=True, exist_ok=True)
    by_id = root / "dev/disk/by-id"
    by_id.mkdir(parents=True, exist_ok=True)
    for name, target in BY_ID.items():
        link = by_id / name
        if not link.is_symlink():
            os.symlink(f"../../{target}", link)
    if scenario == "nozfs":
        return None
    return {
        " ".join(disks.smartctl_argv(device)[1:]): (SMARTCTL / fixture, status)
        for device, (fixture, status) in devices.items()
    }
