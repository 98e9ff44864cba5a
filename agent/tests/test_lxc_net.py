"""Addresses of running containers from their network namespace (/proc/<pid>/net)."""

from pathlib import Path

from agent.collectors import guest_configs, lxc_net
from agent.machine import Machine
from agent.tests import fakehost, fakehost_pmxcfs

PROC = Path(__file__).parent / "fixtures" / "proc"
FIB_DOCKER = PROC / "net-fib_trie-docker-container-172.20.0.2.txt"
INET6_SLAAC = PROC / "net-if_inet6-slaac-gua-ula-proxmox-mac.txt"
INET6_TEMPORARY = PROC / "net-if_inet6-temporary-deprecated.txt"


def test_fib_trie_of_a_container_gives_its_address_not_loopback_or_broadcast():
    assert lxc_net.parse_fib_trie(FIB_DOCKER.read_text()) == ["172.20.0.2"]


def test_fib_trie_with_several_interfaces_and_a_leaf_with_two_aliases():
    text = (
        "Local:\n  +-- 0.0.0.0/0 3 0 5\n"
        "     |-- 10.0.2.0\n        /32 link BROADCAST\n        /24 link UNICAST\n"
        "     |-- 10.0.2.15\n        /32 host LOCAL\n"
        "     +-- 192.168.1.0/24 2 0 2\n"
        "        |-- 192.168.1.20\n           /32 host LOCAL\n"
    )
    assert lxc_net.parse_fib_trie(text) == ["10.0.2.15", "192.168.1.20"]


def test_if_inet6_slaac_and_ula_kept_link_local_and_loopback_left_out():
    assert lxc_net.parse_if_inet6(INET6_SLAAC.read_text()) == fakehost_pmxcfs.NAMESPACE_IPS[1:]


def test_if_inet6_temporary_addresses_left_out():
    assert lxc_net.parse_if_inet6(INET6_TEMPORARY.read_text()) == [
        "240d:f:dd4:d800:a4e3:36ff:fea9:bcc6"
    ]


def test_malformed_and_empty_input_give_no_address():
    assert lxc_net.parse_fib_trie("") == [] and lxc_net.parse_if_inet6("") == []
    assert lxc_net.parse_if_inet6("zz 02 40 00 00 eth0\nshort line\n") == []
    assert lxc_net.parse_fib_trie("     |-- 999.1.1.1\n        /32 host LOCAL\n") == []


def test_addresses_of_a_running_container_from_its_namespace(tmp_path):
    fakehost_pmxcfs.lxc_namespace(tmp_path, 104)
    machine = Machine(root=tmp_path, path="")
    assert lxc_net.init_pid(machine, 104) == fakehost_pmxcfs.FAKE_LXC_PID
    assert lxc_net.addresses(machine, 104) == fakehost_pmxcfs.NAMESPACE_IPS
    assert lxc_net.addresses(machine, 105) is None  # not running: no cgroup
    assert machine.spawned == 0


def test_a_process_of_a_nested_container_is_not_taken_for_the_init(tmp_path):
    """Docker inside the container: its init is pid 1 two levels down (NSpid has 3 values)."""
    cgroup = tmp_path / "sys/fs/cgroup/lxc/104/ns"
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text("4000002\n4000003\n")
    for pid, nspid in (("4000002", "4000002\t88\t1"), ("4000003", "4000003\t1")):
        (tmp_path / "proc" / pid).mkdir(parents=True)
        (tmp_path / "proc" / pid / "status").write_text(f"Name:\tx\nNSpid:\t{nspid}\n")
    assert lxc_net.init_pid(Machine(root=tmp_path, path=""), 104) == 4000003


def test_guest_configs_add_namespace_addresses_beside_the_static_ones(tmp_path):
    fake = fakehost.build(tmp_path / "host", "healthy", 5)
    configs = {g["vmid"]: g for g in guest_configs.collect(fake.machine())}
    dhcp = configs[fakehost.RUNNING_LXC]
    assert dhcp["ips"] == fakehost_pmxcfs.NAMESPACE_IPS and dhcp["ips_source"] == "namespace"
    static = configs[101]  # stopped: only its config's address
    assert static["ips_source"] == "config" and static["ips"]
