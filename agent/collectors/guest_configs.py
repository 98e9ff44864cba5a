"""Guest configurations read straight from pmxcfs, plus guest IPs.

Configs come from /etc/pve/nodes/<node>/{qemu-server,lxc}/<vmid>.conf (file reads, no process).
IPs: LXC from `ip=`/`ip6=` of its `netN` lines, plus, for a running container, the addresses
its network namespace holds (DHCP and SLAAC ones too; agent/collectors/lxc_net.py, /proc reads,
no process); QEMU from the guest agent
(`qm guest cmd <vmid> network-get-interfaces`), asked only for running VMs with the agent
enabled, at most AGENT_WORKERS at a time, AGENT_TIMEOUT_S each. A VM whose agent does not
answer keeps the static cloud-init addresses of its `ipconfigN` lines, if any, and carries
`ips_error`; it never fails the whole source. Running is decided from files as well:
/var/run/qemu-server/<vmid>.pid names a live process whose command line carries `-id <vmid>`.

Additive keys beyond the protocol: `template` (bool), `ips_source` ("agent" | "namespace" |
"config" | null),
`ips_error` (only when the agent was asked and failed), `config_error` (only for a config file
that could not be read; its other keys are then null or empty).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from agent.collectors import lxc_net
from agent.collectors.pve import (
    node_name,
    parse_json,
    parse_size,
    split_property_string,
    to_bool,
    to_int,
    to_str,
)
from agent.machine import Machine, NotApplicable, SourceError

SOURCE = "guest_configs"
TIER = "medium"

AGENT_TIMEOUT_S = 5.0
AGENT_WORKERS = 4

_KEY_LINE = re.compile(r"^([a-z][a-z0-9_-]*):\s*(.*?)\s*$")
_RAW_LXC_LINE = re.compile(r"^(lxc\.[a-z0-9_.-]+)\s*[:=]\s*(.*?)\s*$")
_QEMU_DISK = re.compile(r"^(?:(?:scsi|virtio|sata|ide)\d+|efidisk0|tpmstate0)$")
_LXC_DISK = re.compile(r"^(?:rootfs|mp\d+)$")
_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$", re.IGNORECASE)
_CONF_FILE = re.compile(r"^(\d+)\.conf$")
_NOT_AN_ADDRESS = {"dhcp", "auto", "manual"}
_FOLDERS = (("qemu", "qemu-server"), ("lxc", "lxc"))


def parse_config(text: str) -> dict[str, str]:
    """The current configuration of a guest: `cat /etc/pve/qemu-server/<vmid>.conf` (or lxc/).

    `key: value` lines up to the first `[section]` (snapshots, [PENDING], [special:cloudinit]);
    `#` lines form the `description` (percent-decoded, as PVE stores it). Raw `lxc.*` lines are
    kept (a repeated one keeps its last value). Lines PVE would not parse are skipped, as PVE
    skips them; text without a single key is a SourceError.
    """
    config: dict[str, str] = {}
    description: list[str] = []
    for line in text.splitlines():
        if line.startswith("["):
            break
        if line.startswith("#"):
            description.append(unquote(line[1:]))
            continue
        match = _KEY_LINE.match(line) or _RAW_LXC_LINE.match(line)
        if match:
            config[match.group(1)] = match.group(2)
    if not config:
        raise SourceError("guest config: no `key: value` line")
    if description:
        config.setdefault("description", "\n".join(description))
    return config


def summarize(vmid: int, guest_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol entry of one guest from its config (parsed file or API `.../config` data).

    memory is in bytes (PVE stores MiB); cores and memory are null when the config leaves them
    to PVE's defaults (for LXC, no cores means all host cores). `ips` here are the static ones
    of the config; `collect` replaces them with the guest agent's answer where there is one.
    """
    if guest_type not in ("qemu", "lxc"):
        raise SourceError(f"guest {vmid}: unknown type {guest_type!r}")
    if not isinstance(config, Mapping):
        raise SourceError(f"guest {vmid}: config is not a mapping")
    where = f"{guest_type} {vmid}"
    qemu = guest_type == "qemu"
    name = config.get("name" if qemu else "hostname")
    ostype = config.get("ostype")
    cores = config.get("cores")
    ips = _config_ips(config, "ipconfig" if qemu else "net", where)
    return {
        "vmid": vmid,
        "type": guest_type,
        "name": default_name(vmid, guest_type) if name is None else to_str(name, f"{where}: name"),
        "cores": None if cores is None else to_int(cores, f"{where}: cores"),
        "memory": _memory(config.get("memory"), where),
        "disks": _disks(config, _QEMU_DISK if qemu else _LXC_DISK, qemu, where),
        "tags": _tags(config.get("tags"), where),
        "onboot": to_bool(config.get("onboot", 0), f"{where}: onboot"),
        "agent": _agent_enabled(config.get("agent"), where) if qemu else False,
        "ips": ips,
        "macs": _macs(config, where),
        "os": None if ostype is None else to_str(ostype, f"{where}: ostype"),
        "template": to_bool(config.get("template", 0), f"{where}: template"),
        "ips_source": "config" if ips else None,
    }


def parse_agent_interfaces(text: str) -> dict[str, Any]:
    """IPs from `qm guest cmd <vmid> network-get-interfaces` (guest agent JSON).

    Accepts the bare interface list, `{"result": [...]}` and the API body `{"data": {...}}`.
    Returns `{"ips": [...], "error": None}`; an agent error object (`{"result": {"error": ...}}`,
    e.g. an unsupported command on Windows) gives no IPs and its reason in `error`.
    Loopback and link-local addresses are left out.
    """
    value = parse_json(text, "guest agent")
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    if isinstance(value, dict) and "result" in value:
        value = value["result"]
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        error = value["error"]
        reason = f"{error.get('class', 'error')}: {error.get('desc', 'no description')}"
        return {"ips": [], "error": f"guest agent: {reason}"}
    if not isinstance(value, list):
        raise SourceError(f"guest agent: expected a list of interfaces, got {type(value).__name__}")
    ips: list[str] = []
    for interface in value:
        if not isinstance(interface, dict):
            raise SourceError("guest agent: interface is not an object")
        addresses = interface.get("ip-addresses") or []
        if not isinstance(addresses, list):
            raise SourceError("guest agent: ip-addresses is not a list")
        for address in addresses:
            if isinstance(address, dict):
                _add_address(ips, str(address.get("ip-address", "")))
    return {"ips": ips, "error": None}


def _memory(value: Any, where: str) -> int | None:
    if value is None:
        return None
    # PVE 8.1+ also accepts the property-string form `current=4096`.
    positional, named = split_property_string(to_str(value, f"{where}: memory"))
    mib = positional[0] if positional else named.get("current")
    if mib is None:
        raise SourceError(f"{where}: memory without a size")
    return to_int(mib, f"{where}: memory") * 1024 * 1024


def _disks(
    config: Mapping[str, Any], pattern: re.Pattern[str], qemu: bool, where: str
) -> list[dict[str, Any]]:
    disks = []
    keys = sorted((key for key in config if pattern.match(key)), key=_natural)
    for key in sorted(keys, key=lambda key: key != "rootfs"):
        positional, named = split_property_string(to_str(config[key], f"{where}: {key}"))
        volume = positional[0] if positional else named.get("file") or named.get("volume")
        if not volume or volume == "none" or (qemu and named.get("media") == "cdrom"):
            continue
        # A bind mount or a passed-through device (/dev/..., /mnt/...) lives on no storage.
        storage = volume.split(":", 1)[0] if ":" in volume and not volume.startswith("/") else None
        size = named.get("size")
        disks.append(
            {
                "key": key,
                "storage": storage,
                "size": None if size is None else parse_size(size, f"{where}: {key}"),
            }
        )
    return disks


def _tags(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    # PVE splits tag lists on ; , and whitespace ("blue;red", "one, two, three").
    return [tag for tag in re.split(r"[;,\s]+", to_str(value, f"{where}: tags")) if tag]


def _agent_enabled(value: Any, where: str) -> bool:
    if value is None:
        return False
    positional, named = split_property_string(to_str(value, f"{where}: agent"))
    enabled = positional[0] if positional else named.get("enabled", "0")
    return to_bool(enabled, f"{where}: agent")


def _macs(config: Mapping[str, Any], where: str) -> list[str]:
    macs: list[str] = []
    for key in sorted((key for key in config if re.match(r"^net\d+$", key)), key=_natural):
        _, named = split_property_string(to_str(config[key], f"{where}: {key}"))
        # QEMU: `<model>=<MAC>` (virtio, e1000, ...) or macaddr=; LXC: hwaddr=.
        for value in named.values():
            if _MAC.match(value) and value.lower() not in macs:
                macs.append(value.lower())
    return macs


def _config_ips(config: Mapping[str, Any], prefix: str, where: str) -> list[str]:
    ips: list[str] = []
    pattern = re.compile(rf"^{prefix}\d+$")
    for key in sorted((key for key in config if pattern.match(key)), key=_natural):
        _, named = split_property_string(to_str(config[key], f"{where}: {key}"))
        for option in ("ip", "ip6"):
            value = named.get(option, "")
            if value and value not in _NOT_AN_ADDRESS:
                _add_address(ips, value.split("/", 1)[0])
    return ips


def _add_address(ips: list[str], text: str) -> None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return
    if address.is_loopback or address.is_link_local or address.is_unspecified:
        return
    if str(address) not in ips:
        ips.append(str(address))


def _natural(key: str) -> tuple[str, int]:
    match = re.match(r"^(\D*)(\d*)$", key)
    if not match:
        return (key, -1)
    return (match.group(1), int(match.group(2)) if match.group(2) else -1)


def default_name(vmid: int, guest_type: str) -> str:
    """What Proxmox shows for a guest whose config names none (the protocol needs a string)."""
    return f"VM {vmid}" if guest_type == "qemu" else f"CT{vmid}"


def _unreadable(vmid: int, guest_type: str, reason: str) -> dict[str, Any]:
    return {
        "vmid": vmid,
        "type": guest_type,
        "name": default_name(vmid, guest_type),
        "cores": None,
        "memory": None,
        "disks": [],
        "tags": [],
        "onboot": None,
        "agent": None,
        "ips": [],
        "macs": [],
        "os": None,
        "template": None,
        "ips_source": None,
        "config_error": reason,
    }


def _qemu_running(machine: Machine, vmid: int) -> bool:
    try:
        pid = int(machine.read(f"/var/run/qemu-server/{vmid}.pid").strip())
        cmdline = machine.read(f"/proc/{pid}/cmdline")
    except (FileNotFoundError, SourceError, ValueError):
        return False
    # A stale pid file may name a reused pid: check it is this VM's QEMU.
    return f"\0-id\0{vmid}\0" in f"\0{cmdline}"


def _ask_agent(machine: Machine, vmid: int) -> dict[str, Any]:
    argv = ["qm", "guest", "cmd", str(vmid), "network-get-interfaces"]
    try:
        return parse_agent_interfaces(machine.run(argv, timeout=AGENT_TIMEOUT_S))
    except (SourceError, NotApplicable) as exc:
        return {"ips": [], "error": str(exc)}


def _add_agent_ips(machine: Machine, guests: list[dict[str, Any]]) -> None:
    asked = [
        guest
        for guest in guests
        if guest["type"] == "qemu"
        and guest["agent"]
        and not guest["template"]
        and _qemu_running(machine, guest["vmid"])
    ]
    if not asked:
        return
    with ThreadPoolExecutor(max_workers=AGENT_WORKERS) as pool:
        answers = list(pool.map(lambda guest: _ask_agent(machine, guest["vmid"]), asked))
    for guest, answer in zip(asked, answers, strict=True):
        if answer["ips"]:
            guest["ips"] = answer["ips"]
            guest["ips_source"] = "agent"
        if answer["error"]:
            guest["ips_error"] = answer["error"]


def _add_namespace_ips(machine: Machine, guests: list[dict[str, Any]]) -> None:
    """Running containers: the static config addresses plus what their namespace holds."""
    for guest in guests:
        if guest["type"] != "lxc" or guest["template"] or "config_error" in guest:
            continue
        try:
            found = lxc_net.addresses(machine, guest["vmid"])
        except SourceError as exc:
            guest["ips_error"] = str(exc)
            continue
        if found:
            guest["ips"] = guest["ips"] + [ip for ip in found if ip not in guest["ips"]]
            guest["ips_source"] = "namespace"


def collect(machine: Machine) -> list[dict[str, Any]]:
    if not machine.exists("/etc/pve"):
        raise NotApplicable("/etc/pve is missing: not a Proxmox VE host")
    node = node_name(machine)
    base = f"/etc/pve/nodes/{node}"
    if not machine.exists(base):
        raise SourceError(f"{base}: missing (is pve-cluster running?)")
    guests = []
    for guest_type, folder in _FOLDERS:
        for filename in machine.listdir(f"{base}/{folder}"):
            match = _CONF_FILE.match(filename)
            if not match:
                continue
            vmid = int(match.group(1))
            try:
                config = parse_config(machine.read(f"{base}/{folder}/{filename}"))
                guests.append(summarize(vmid, guest_type, config))
            except FileNotFoundError:
                continue  # destroyed between listing and reading
            except SourceError as exc:
                guests.append(_unreadable(vmid, guest_type, str(exc)))
    _add_agent_ips(machine, guests)
    _add_namespace_ips(machine, guests)
    return sorted(guests, key=lambda guest: (guest["vmid"], guest["type"]))
