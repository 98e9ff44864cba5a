import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent import collect
from agent.collectors import disks
from agent.machine import Machine, NotApplicable, SourceError
from agent.tests import fakehost, fakehost_disks
from metrics.decode import validate_sample  # the server's own check: the contract

SMARTCTL = Path(__file__).parent / "fixtures" / "smartctl"
REPO = Path(__file__).resolve().parents[2]

NULLS = dict.fromkeys(disks.VALUE_KEYS)


def parse_fixture(name, status):
    return disks.parse((SMARTCTL / name).read_text(), status)


# --- one test per real fixture -----------------------------------------------------------------


def test_sata_hdd_healthy():
    assert parse_fixture("ata-hdd-wdc-wd20efrx-red-healthy.json", 0) == {
        "standby": False,
        "model": "WDC WD20EFRX-68EUZN0",
        "serial": "REDACTED",
        "protocol": "ATA",
        "passed": True,
        "temperature_c": 33,
        "power_on_hours": 71605,
        "reallocated_sectors": 0,
        "pending_sectors": 0,
        "uncorrectable_sectors": 0,
        "percentage_used": None,
        "media_errors": None,
        "critical_warning": None,
    }


def test_sata_ssd_without_pending_attributes_says_unknown_not_zero():
    entry = parse_fixture("ata-ssd-samsung-mz7wd240-healthy.json", 0)
    assert entry["model"] == "SAMSUNG MZ7WD240HAFV-00003"
    assert (entry["protocol"], entry["passed"], entry["temperature_c"]) == ("ATA", True, 27)
    assert entry["power_on_hours"] == 84620
    assert entry["reallocated_sectors"] == 0
    # Its attribute table has no 197 or 198: unknown, which is not the same as none.
    assert entry["pending_sectors"] is None and entry["uncorrectable_sectors"] is None


def test_failing_hdd_is_read_despite_its_exit_status():
    # 216 = bits 3, 4, 6, 7: DISK FAILING, prefail attribute at threshold, error log and
    # self-test log entries. Findings about the disk, not a failed command.
    entry = parse_fixture("ata-hdd-hitachi-hds721050-failed-usb-jmicron.json", 216)
    assert entry["passed"] is False
    assert entry["model"] == "Hitachi HDS721050DLE630"
    assert entry["serial"] == "MSK423Y20S3HBC"
    assert entry["reallocated_sectors"] == 1975
    assert entry["pending_sectors"] == 8
    assert entry["uncorrectable_sectors"] == 0
    assert entry["power_on_hours"] == 65592
    # The temperature attribute's raw value packs min/max (167504969753); the current
    # temperature is smartctl's own `temperature.current`.
    assert entry["temperature_c"] == 25


def test_nvme_healthy():
    entry = parse_fixture("nvme-samsung-970-evo-plus-healthy.json", 0)
    assert entry == {
        **NULLS,
        "standby": False,
        "model": "Samsung SSD 970 EVO Plus 250GB",
        "serial": "REDACTED",
        "protocol": "NVMe",
        "passed": True,
        "temperature_c": 35,
        "power_on_hours": 3149,
        "percentage_used": 0,
        "media_errors": 0,
        "critical_warning": 0,
    }


def test_nvme_media_errors():
    entry = parse_fixture("nvme-samsung-970-evo-media-errors.json", 0)
    assert (entry["passed"], entry["media_errors"], entry["percentage_used"]) == (True, 7, 3)
    assert entry["serial"] == "S466NX0M776250H"


def test_nvme_critical_warning_fails_health():
    entry = parse_fixture("nvme-samsung-mzwll3t2-critical-warning-volatile-backup-failed.json", 8)
    assert entry["critical_warning"] == 16 and entry["passed"] is False
    assert entry["reallocated_sectors"] is None  # ATA counters do not exist on NVMe


def test_sas_disk_grown_defects_count_as_reallocated():
    entry = parse_fixture("scsi-seagate-st1200mm0088-sas.json", 0)
    assert entry["protocol"] == "SCSI"
    assert entry["model"] == "SEAGATE ST1200MM0088"
    assert (entry["passed"], entry["temperature_c"], entry["power_on_hours"]) == (True, 31, 5675)
    assert entry["reallocated_sectors"] == 0
    assert entry["pending_sectors"] is None and entry["percentage_used"] is None


def test_disk_in_standby_is_not_read_and_has_no_values():
    entry = parse_fixture("ata-hdd-standby-smartctl74-reconstructed.json", 2)
    assert entry == {"standby": True, **NULLS}


def test_standby_with_a_chosen_exit_status_is_still_standby():
    # `-n standby,0` makes smartctl exit 0; the message is what says the disk was not read.
    text = (SMARTCTL / "ata-hdd-standby-smartctl74-reconstructed.json").read_text()
    assert disks.parse(text.replace("exit(2)", "exit(0)"), 0)["standby"] is True


@pytest.mark.parametrize(
    "message",
    ["Device is in SLEEP mode, exit(2)", "Device is in STANDBY BY COMMAND mode, exit(2)"],
)
def test_other_low_power_messages_are_standby(message):
    text = json.dumps({"smartctl": {"messages": [{"string": message}], "exit_status": 2}})
    assert disks.parse(text, 2)["standby"] is True


def test_open_failed_is_an_error_with_smartctls_reason():
    with pytest.raises(SourceError, match="open device: /dev/sdb \\[SAT\\] failed: No such device"):
        parse_fixture("open-failed-no-such-device-scrutiny-issue157.json", 2)


# --- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "smartctl: command not found\n", '{"smartctl": '])
def test_output_that_is_not_json_is_an_error(text):
    with pytest.raises(SourceError, match="unreadable output"):
        disks.parse(text, 0)


def test_json_that_is_not_an_object_is_an_error():
    with pytest.raises(SourceError, match="not a JSON object"):
        disks.parse("[1, 2]", 0)


def test_command_line_error_bit_is_an_error_even_with_data():
    text = (SMARTCTL / "ata-hdd-wdc-wd20efrx-red-healthy.json").read_text()
    with pytest.raises(SourceError, match="exit status 1"):
        disks.parse(text, 1)


def test_device_bit_without_a_low_power_message_is_an_error():
    with pytest.raises(SourceError, match="exit status 2"):
        disks.parse('{"smartctl": {"exit_status": 2}}', 2)


def test_values_of_the_wrong_type_or_out_of_range_become_unknown():
    text = json.dumps(
        {
            "device": {"protocol": 7},
            "model_name": "  ",
            "serial_number": "x" * 400,
            "smart_status": {"passed": "yes"},
            "temperature": {"current": "hot"},
            "power_on_time": {"hours": -5},
            "ata_smart_attributes": {
                "table": [
                    {"id": 5, "raw": {"value": True, "string": "n/a"}},
                    {"id": 197, "raw": {"value": 2**70}},
                    {"id": 198, "raw": "broken"},
                    "not an attribute",
                ]
            },
            "nvme_smart_health_information_log": {
                "percentage_used": float("nan"),
                "media_errors": 2**64,
                "critical_warning": 1.5,
            },
        }
    )
    entry = disks.parse(text, 0)
    assert entry == {**NULLS, "standby": False, "serial": "x" * 255}


def test_raw_string_is_read_as_smartctl_formats_it():
    # Drives with a vendor raw format pack more into the 48-bit raw value; smartctl's string
    # starts with the count the drive database says it is.
    table = [{"id": 5, "raw": {"value": 4295032833, "string": "1 (0 1)"}}]
    text = json.dumps({"ata_smart_attributes": {"table": table}})
    assert disks.parse(text, 0)["reallocated_sectors"] == 1


def test_an_empty_object_is_a_disk_without_values():
    assert disks.parse("{}", 0) == {"standby": False, **NULLS}


# --- which devices, and their names --------------------------------------------------------------


def test_only_whole_disks_are_asked():
    names = [
        "sdb",
        "loop0",
        "nvme0n1",
        "zd16",
        "dm-3",
        "md127",
        "sr0",
        "nbd0",
        "rbd1",
        "ram0",
        "sda",
        "vda",
    ]
    assert disks.whole_disks(names) == ["nvme0n1", "sda", "sdb", "vda"]


def test_by_id_maps_links_to_their_disk_and_leaves_partitions_to_theirs():
    links = {
        "ata-X_1": "../../sda",
        "ata-X_1-part1": "../../sda1",
        "wwn-0x5": "../../sda",
        "nvme-Y": "../../nvme0n1",
    }
    assert disks.parse_by_id(links) == {
        "sda": ["ata-X_1", "wwn-0x5"],
        "sda1": ["ata-X_1-part1"],
        "nvme0n1": ["nvme-Y"],
    }


def test_smartctl_is_asked_never_to_wake_a_disk():
    assert disks.smartctl_argv("sda") == [
        "smartctl",
        "--json=c",
        "-a",
        "-n",
        "standby",
        "/dev/sda",
    ]


# --- the whole source on the fake host -------------------------------------------------------


def fake_host(tmp_path, scenario):
    fake = fakehost.build(tmp_path / scenario, scenario, guests=0)
    return fake, Machine(root=fake.root, path=str(fake.bin))


def test_healthy_fake_host(tmp_path):
    fake, machine = fake_host(tmp_path, "healthy")
    found = disks.collect(machine)
    assert [entry["device"] for entry in found] == ["nvme0n1", "sda", "sdb", "sdc"]
    by_device = {entry["device"]: entry for entry in found}
    assert by_device["sda"]["by_id"] == [
        "ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE01",
        "wwn-0x50014ee0fake0001",
    ]
    assert by_device["sdc"] == {
        "device": "sdc",
        "standby": True,
        **NULLS,
        "by_id": ["ata-WDC_WD20EFRX-68EUZN0_WD-WCC4M0FAKE03"],
    }
    assert by_device["nvme0n1"]["percentage_used"] == 0
    assert all("error" not in entry for entry in found)
    # One smartctl per whole disk, each with -n standby; no other program.
    calls = fake.calls()
    assert len(calls) == 4
    assert all(call.startswith("smartctl --json=c -a -n standby /dev/") for call in calls)
    assert machine.spawned == 4


def test_degraded_fake_host_keeps_a_disk_that_cannot_be_read(tmp_path):
    _, machine = fake_host(tmp_path, "degraded")
    by_device = {entry["device"]: entry for entry in disks.collect(machine)}
    assert set(by_device) == {"sda", "sdb", "sdc", "sdd", "nvme0n1", "nvme1n1"}
    assert by_device["sdb"]["passed"] is False and by_device["sdb"]["pending_sectors"] == 8
    assert by_device["nvme0n1"]["critical_warning"] == 16
    assert by_device["nvme1n1"]["media_errors"] == 7
    sdd = by_device["sdd"]
    assert sdd["error"] == "smartctl: Smartctl open device: /dev/sdb [SAT] failed: No such device"
    assert sdd["passed"] is None and sdd["standby"] is False
    assert sdd["by_id"] == ["ata-Hitachi_HDS721050DLE630_MSK423Y20S3HBC"]
    json.dumps(list(by_device.values()), allow_nan=False)


def test_without_smartctl_the_source_is_not_applicable(tmp_path):
    _, machine = fake_host(tmp_path, "nozfs")  # the nozfs host has no smartctl either
    with pytest.raises(NotApplicable, match="smartctl is not installed"):
        disks.collect(machine)


def test_when_every_disk_fails_the_source_fails(tmp_path):
    fake, machine = fake_host(tmp_path, "healthy")
    for name in os.listdir(fake.root / "sys/block"):
        os.rmdir(fake.root / "sys/block" / name)
    (fake.root / "sys/block/sdz").mkdir()  # the stand-in has no answer for it: exit 2
    with pytest.raises(SourceError, match="smartctl failed for every disk; sdz: smartctl: "):
        disks.collect(machine)


def test_a_hanging_disk_is_its_own_error_and_the_others_are_read(tmp_path, monkeypatch):
    fake, machine = fake_host(tmp_path, "healthy")
    monkeypatch.setattr(disks, "TIMEOUT_S", 0.5)
    script = fake.bin / "smartctl"
    text = script.read_text().replace(
        'case "$*" in\n', f'case "$*" in\n  *sdb) exec {fakehost._tool("sleep")} 30 ;;\n'
    )
    script.write_text(text)
    by_device = {entry["device"]: entry for entry in disks.collect(machine)}
    assert by_device["sdb"]["error"] == "smartctl --json=c -a: timed out after 0.5 s"
    assert by_device["sda"]["passed"] is True


def test_no_block_devices_is_an_empty_list(tmp_path):
    fake, machine = fake_host(tmp_path, "healthy")
    for name in os.listdir(fake.root / "sys/block"):
        os.rmdir(fake.root / "sys/block" / name)
    assert disks.collect(machine) == []


def test_fake_host_scenarios_name_existing_fixtures():
    for scenario in ("healthy", "degraded"):
        for fixture, _ in fakehost_disks.answers(scenario).values():
            assert (SMARTCTL / fixture).is_file()


# --- the slow tier, processes and the command line ---------------------------------------------


@pytest.fixture
def fresh_process_state(monkeypatch):
    monkeypatch.setattr(collect, "_not_applicable", set())
    monkeypatch.setattr(collect, "_failing", {})


def test_processes_per_slow_cycle_with_and_without_smartctl(tmp_path, fresh_process_state):
    """docs/agent.md: the disks source adds one smartctl per whole disk and nothing else."""
    spawned = {}
    for with_smartctl in (True, False):
        fake, machine = fake_host(tmp_path / str(with_smartctl), "healthy")
        if not with_smartctl:
            (fake.bin / "smartctl").unlink()
        data, errors = collect.collect_tier(machine, "slow")
        assert errors == {}
        assert ("disks" in data) is with_smartctl
        spawned[with_smartctl] = sorted(call.split()[0] for call in fake.calls())
    assert spawned[False] == ["apt", "pveversion", "zfs"]
    assert spawned[True] == [
        "apt",
        "pveversion",
        "smartctl",
        "smartctl",
        "smartctl",
        "smartctl",
        "zfs",
    ]


def test_collect_once_on_the_fake_host_reports_the_disks(tmp_path):
    fake = fakehost.build(tmp_path / "host", "degraded", 0)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "collect", "--once", "--root", str(fake.root)]
        + ["--tier", "slow"],
        cwd=REPO,
        env={**fake.env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    frame = json.loads(result.stdout)["slow"]
    assert validate_sample(frame) is None
    found = {entry["device"]: entry for entry in frame["data"]["disks"]}
    assert sorted(found) == ["nvme0n1", "nvme1n1", "sda", "sdb", "sdc", "sdd"]
    assert found["sdb"]["passed"] is False and found["sdb"]["reallocated_sectors"] == 1975
    assert found["sdc"]["standby"] is True and found["sdc"]["temperature_c"] is None
    assert "No such device" in found["sdd"]["error"]
    assert "disks" not in frame["errors"]
