import json
import shutil
import time
from pathlib import Path

import pytest

from agent.collectors import guest_configs
from agent.collectors.guest_configs import parse_agent_interfaces, parse_config, summarize
from agent.machine import Machine, NotApplicable, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
PVE = FIXTURES / "pve"
HANDMADE = FIXTURES / "handmade"
GIB = 1024**3
MIB = 1024**2

# (fixture stem, vmid, type): the real API configs and their hand-made .conf twins.
CONFIGS = [
    ("api-qemu-config-pve8.1-tags", 101, "qemu"),
    ("api-qemu-config-pve8.1-template", 102, "qemu"),
    ("api-qemu-config-pve9-cloudinit-efi-ovmf", 111, "qemu"),
    ("ansible-qemu-config-linux-cloudinit-agent", 101, "qemu"),
    ("ansible-qemu-config-windows", 102, "qemu"),
    ("ansible-qemu-config-multi-nic", 103, "qemu"),
    ("api-lxc-config-dhcp-raw-lxc-keys", 101, "lxc"),
    ("ansible-lxc-config-static-ip", 100, "lxc"),
]


def api_config(stem: str) -> dict:
    data = json.loads((PVE / f"{stem}.json").read_text())
    return data["data"] if set(data) == {"data"} else data


def summary(stem: str) -> dict:
    _, vmid, guest_type = next(entry for entry in CONFIGS if entry[0] == stem)
    return summarize(vmid, guest_type, api_config(stem))


def test_pve81_qemu_config_with_tags():
    assert summary("api-qemu-config-pve8.1-tags") == {
        "vmid": 101,
        "type": "qemu",
        "name": "second-vm",
        "cores": 1,
        "memory": 2 * GIB,
        "disks": [{"key": "scsi0", "storage": "local-lvm", "size": 32 * GIB}],
        "tags": ["blue", "red"],
        "onboot": False,
        "agent": False,
        "ips": [],
        "macs": ["bc:24:11:fa:b6:ab"],
        "os": "l26",
        "template": False,
        "ips_source": None,
    }


def test_pve81_template_config():
    result = summary("api-qemu-config-pve8.1-template")
    assert result["template"] is True
    assert result["tags"] == ["blue"]
    assert result["disks"] == [{"key": "scsi0", "storage": "local-lvm", "size": 32 * GIB}]
    assert result["macs"] == ["bc:24:11:a4:a0:3e"]


def test_pve9_cloudinit_efi_config_without_name_gets_the_name_proxmox_shows():
    result = summary("api-qemu-config-pve9-cloudinit-efi-ovmf")
    # the protocol's name is a string: a null one would get the whole sample nacked
    assert result["name"] == f"VM {result['vmid']}"
    assert (result["cores"], result["memory"], result["onboot"]) == (4, 4 * GIB, True)
    assert result["disks"] == [
        {"key": "efidisk0", "storage": "local-zfs", "size": 1 * MIB},
        {"key": "scsi0", "storage": "local-zfs", "size": 160 * GIB},
    ]
    assert result["ips"] == ["10.100.1.174"]
    assert result["ips_source"] == "config"
    assert result["agent"] is False


def test_linux_cloudinit_agent_config_skips_cdrom_drives():
    result = summary("ansible-qemu-config-linux-cloudinit-agent")
    assert result["name"] == "test-qemu"
    assert result["tags"] == ["one", "two", "three"]
    assert (result["cores"], result["memory"]) == (1, 1000 * MIB)
    assert result["disks"] == [{"key": "scsi0", "storage": "local-lvm", "size": 8 * GIB}]
    assert (result["agent"], result["onboot"]) == (True, True)
    assert result["macs"] == ["ff:ff:ff:ff:ff:ff"]


def test_windows_config_with_sata_disk():
    result = summary("ansible-qemu-config-windows")
    assert (result["cores"], result["memory"], result["os"]) == (6, 10 * GIB, "win8")
    assert result["disks"] == [{"key": "sata0", "storage": "storage", "size": 100 * GIB}]
    assert result["agent"] is True


def test_multi_nic_config_lists_disks_in_order_and_macs_once():
    result = summary("ansible-qemu-config-multi-nic")
    assert [(disk["key"], disk["size"]) for disk in result["disks"]] == [
        ("scsi0", 10 * GIB),
        ("scsi1", 30 * GIB),
        ("scsi2", 10 * GIB),
    ]
    assert result["agent"] is True  # "1,type=virtio"
    assert result["macs"] == ["ff:ff:ff:ff:ff:ff"]  # upstream anonymised both NICs alike


def test_lxc_dhcp_config_with_bind_mount():
    assert summary("api-lxc-config-dhcp-raw-lxc-keys") == {
        "vmid": 101,
        "type": "lxc",
        "name": "test-container",
        "cores": 2,
        "memory": 4 * GIB,
        "disks": [
            {"key": "rootfs", "storage": "vmstore", "size": 30 * GIB},
            {"key": "mp0", "storage": None, "size": None},
        ],
        "tags": ["tag1", "tag2"],
        "onboot": True,
        "agent": False,
        "ips": [],
        "macs": ["5d:cf:bd:b2:c5:39"],
        "os": "debian",
        "template": False,
        "ips_source": None,
    }


def test_lxc_static_ip_config_gives_the_address_without_prefix():
    result = summary("ansible-lxc-config-static-ip")
    assert result["ips"] == ["10.1.1.3"]
    assert result["ips_source"] == "config"
    assert (result["name"], result["memory"], result["os"]) == ("test-lxc", 1000 * MIB, "ubuntu")
    assert result["disks"] == [{"key": "rootfs", "storage": "local-lvm", "size": 4 * GIB}]
    assert result["onboot"] is False


@pytest.mark.parametrize(("stem", "vmid", "guest_type"), CONFIGS)
def test_conf_file_summarizes_like_the_api_config(stem, vmid, guest_type):
    conf = parse_config((HANDMADE / f"{stem}.conf").read_text())
    assert summarize(vmid, guest_type, conf) == summarize(vmid, guest_type, api_config(stem))


def test_parse_config_reads_description_and_raw_lxc_keys():
    conf = parse_config((HANDMADE / "api-lxc-config-dhcp-raw-lxc-keys.conf").read_text())
    assert conf["rootfs"] == "vmstore:subvol-101-disk-0,size=30G"
    assert conf["lxc.mount.entry"] == "/dev/fb0 dev/fb0 none bind,optional,create=file"
    static = parse_config((HANDMADE / "ansible-lxc-config-static-ip.conf").read_text())
    assert static["description"] == "A testnode"


def test_parse_config_stops_at_snapshot_pending_and_cloudinit_sections():
    sections = HANDMADE / "qemu-config-pve8.1-tags-with-snapshot-pending-cloudinit-sections.conf"
    conf = parse_config(sections.read_text())
    plain = parse_config((HANDMADE / "api-qemu-config-pve8.1-tags.conf").read_text())
    assert conf == {**plain, "parent": "before-upgrade"}
    assert summarize(101, "qemu", conf) == summary("api-qemu-config-pve8.1-tags")


def test_agent_interfaces_linux_docker_skip_loopback():
    text = (PVE / "ansible-agent-network-get-interfaces-linux-docker.json").read_text()
    assert parse_agent_interfaces(text) == {
        "ips": ["10.1.2.3", "fd8c:4687:e88d:1be3:5b70:7b88:c79c:293", "10.10.2.3"],
        "error": None,
    }


def test_agent_interfaces_multi_nic_without_addresses_or_mac():
    text = (PVE / "ansible-agent-network-get-interfaces-multi-nic-weave.json").read_text()
    ips = parse_agent_interfaces(text)["ips"]
    assert ips == ["172.16.0.143", "10.0.0.133", "172.17.0.1", "10.42.0.1"]


def test_agent_interfaces_api_body_skips_ipv6_link_local():
    text = (PVE / "api-agent-network-get-interfaces-pve9-linux.json").read_text()
    assert parse_agent_interfaces(text) == {"ips": ["192.168.200.139"], "error": None}


def test_agent_error_object_gives_no_ips_and_the_reason():
    text = (PVE / "ansible-agent-network-get-interfaces-unsupported-error.json").read_text()
    assert parse_agent_interfaces(text) == {
        "ips": [],
        "error": "guest agent: Unsupported: this feature or command is not currently supported",
    }


def test_bare_agent_interface_list_is_accepted():
    text = (PVE / "ansible-agent-network-get-interfaces-linux-docker.json").read_text()
    bare = json.dumps(json.loads(text)["result"])
    assert parse_agent_interfaces(bare) == parse_agent_interfaces(text)


@pytest.mark.parametrize("text", ["", "\n\n", "this is not a config\n", "[snap]\ncores: 1\n"])
def test_config_without_keys_is_a_source_error(text):
    with pytest.raises(SourceError):
        parse_config(text)


@pytest.mark.parametrize(
    ("guest_type", "config"),
    [
        ("vm", {"cores": 1}),
        ("qemu", {"memory": "lots"}),
        ("qemu", {"memory": "balloon=512"}),
        ("qemu", {"cores": "four"}),
        ("qemu", {"onboot": "maybe"}),
        ("qemu", {"agent": "yes"}),
        ("qemu", {"scsi0": "local-lvm:vm-1-disk-0,size=huge"}),
        ("lxc", {"rootfs": "local:subvol-1-disk-0,size=-1G"}),
        ("lxc", {"tags": ["a", "b"]}),
    ],
)
def test_bad_config_values_are_a_source_error(guest_type, config):
    with pytest.raises(SourceError):
        summarize(1, guest_type, config)


@pytest.mark.parametrize("text", ["", "{}", '{"result": "eth0"}', "[1]", '[{"ip-addresses": 5}]'])
def test_malformed_agent_answer_is_a_source_error(text):
    with pytest.raises(SourceError):
        parse_agent_interfaces(text)


# --- end to end on a fake host -------------------------------------------------------------


def put(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def run_vm(root: Path, vmid: int, pid: int, cmdline_vmid: int | None = None) -> None:
    """A live QEMU process for `vmid` (or, with `cmdline_vmid`, a pid reused by another VM)."""
    put(root, f"/var/run/qemu-server/{vmid}.pid", f"{pid}\n")
    owner = vmid if cmdline_vmid is None else cmdline_vmid
    put(root, f"/proc/{pid}/cmdline", f"/usr/bin/kvm\0-id\0{owner}\0-name\0vm{owner}\0")


def fake_host(tmp_path: Path) -> Machine:
    root = tmp_path / "root"
    put(root, "/proc/sys/kernel/hostname", "pve.example.com\n")
    (root / "etc/pve/nodes/pve/qemu-server").mkdir(parents=True)
    (root / "etc/pve/nodes/pve/lxc").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cat = shutil.which("cat")
    (bin_dir / "qm").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/qm.log\n'
        'case "$3" in\n'
        f"  101) exec {cat} {PVE}/ansible-agent-network-get-interfaces-linux-docker.json ;;\n"
        f"  102) exec {cat} {PVE}/ansible-agent-network-get-interfaces-unsupported-error.json ;;\n"
        f"  103) exec {shutil.which('sleep')} 30 ;;\n"
        "  107) echo 'QEMU guest agent is not running' >&2; exit 255 ;;\n"
        "esac\n"
        "exit 2\n"
    )
    (bin_dir / "qm").chmod(0o755)
    return Machine(root=root, path=str(bin_dir))


def install(root: Path, folder: str, vmid: int, stem: str) -> None:
    text = (HANDMADE / f"{stem}.conf").read_text()
    put(root, f"/etc/pve/nodes/pve/{folder}/{vmid}.conf", text)


def test_collect_reads_configs_and_asks_only_running_agents(tmp_path, monkeypatch):
    monkeypatch.setattr(guest_configs, "AGENT_TIMEOUT_S", 0.5)
    machine = fake_host(tmp_path)
    root = machine.root
    install(root, "qemu-server", 101, "ansible-qemu-config-linux-cloudinit-agent")
    install(root, "qemu-server", 102, "ansible-qemu-config-windows")
    install(root, "qemu-server", 103, "ansible-qemu-config-multi-nic")
    install(root, "qemu-server", 104, "api-qemu-config-pve8.1-template")
    install(root, "qemu-server", 105, "ansible-qemu-config-linux-cloudinit-agent")
    install(root, "qemu-server", 106, "ansible-qemu-config-linux-cloudinit-agent")
    install(root, "qemu-server", 107, "ansible-qemu-config-windows")
    install(root, "qemu-server", 111, "api-qemu-config-pve9-cloudinit-efi-ovmf")
    install(root, "lxc", 100, "ansible-lxc-config-static-ip")
    install(root, "lxc", 109, "api-lxc-config-dhcp-raw-lxc-keys")
    put(root, "/etc/pve/nodes/pve/qemu-server/108.conf", "\x00\x01 not a config\n")
    put(root, "/etc/pve/nodes/pve/qemu-server/notes.txt", "ignored\n")
    for vmid, pid in ((101, 4101), (102, 4102), (103, 4103), (107, 4107), (111, 4111)):
        run_vm(root, vmid, pid)
    run_vm(root, 106, 4999, cmdline_vmid=999)  # stale pid file, pid now used by another VM
    # 104 (template) and 105 (agent on, stopped) have no pid file.

    started = time.monotonic()
    result = {guest["vmid"]: guest for guest in guest_configs.collect(machine)}
    assert time.monotonic() - started < 5

    assert sorted(result) == [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 111]
    assert result[101]["ips"] == ["10.1.2.3", "fd8c:4687:e88d:1be3:5b70:7b88:c79c:293", "10.10.2.3"]
    assert result[101]["ips_source"] == "agent" and "ips_error" not in result[101]
    assert result[102]["ips"] == []
    assert result[102]["ips_error"].startswith("guest agent: Unsupported")
    assert result[103]["ips_error"] == "qm guest cmd: timed out after 0.5 s"
    assert result[107]["ips_error"] == "qm guest cmd: QEMU guest agent is not running"
    assert result[111]["ips"] == ["10.100.1.174"] and result[111]["ips_source"] == "config"
    assert result[100]["ips"] == ["10.1.1.3"] and result[100]["type"] == "lxc"
    assert result[109]["name"] == "test-container"
    assert result[104]["template"] is True
    assert result[108]["config_error"] == "guest config: no `key: value` line"
    assert result[108]["name"] == "VM 108"
    for vmid in (104, 105, 106):
        assert result[vmid]["ips"] == [] and "ips_error" not in result[vmid]

    asked = sorted((tmp_path / "qm.log").read_text().splitlines())
    assert asked == [f"guest cmd {vmid} network-get-interfaces" for vmid in (101, 102, 103, 107)]
    assert machine.spawned == 4


def test_300_stopped_guests_cost_no_process(tmp_path):
    machine = fake_host(tmp_path)
    for vmid in range(1000, 1300):
        install(machine.root, "qemu-server", vmid, "ansible-qemu-config-linux-cloudinit-agent")
    result = guest_configs.collect(machine)
    assert len(result) == 300
    assert machine.spawned == 0


def test_host_without_etc_pve_is_not_applicable(tmp_path):
    put(tmp_path, "/proc/sys/kernel/hostname", "debian\n")
    with pytest.raises(NotApplicable):
        guest_configs.collect(Machine(root=tmp_path, path=str(tmp_path / "bin")))


def test_unmounted_pmxcfs_is_a_source_error(tmp_path):
    put(tmp_path, "/proc/sys/kernel/hostname", "pve\n")
    (tmp_path / "etc/pve").mkdir(parents=True)
    with pytest.raises(SourceError, match="is pve-cluster running"):
        guest_configs.collect(Machine(root=tmp_path, path=str(tmp_path / "bin")))
