"""scripts/build-deb: the Debian package of the agent, inspected with Debian's own dpkg-deb.

A stand-in file is packaged as the binary (BINARY=...): what is tested is the package around
it; the frozen binary itself is agent/tests/test_frozen.py's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import agent

ROOT = Path(__file__).resolve().parents[2]


def build(tmp_path: Path) -> Path:
    binary = tmp_path / "proxmon-agent"
    binary.write_text("#!/bin/sh\necho stand-in\n")
    binary.chmod(0o755)
    out = tmp_path / "out"
    result = subprocess.run(
        [str(ROOT / "scripts/build-deb")],
        env={**os.environ, "BINARY": str(binary), "OUT": str(out)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (deb,) = out.glob("*.deb")
    assert str(deb) in result.stdout
    return deb


def dpkg_deb(*args: str) -> str:
    return subprocess.run(
        ["dpkg-deb", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_package_holds_binary_unit_and_config_template_owned_by_root(tmp_path):
    deb = build(tmp_path)
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert deb.name == f"proxmon-agent_{agent.__version__}_{arch}.deb"
    assert dpkg_deb("--field", str(deb), "Package", "Version") == (
        f"Package: proxmon-agent\nVersion: {agent.__version__}\n"
    )
    assert dpkg_deb("--field", str(deb), "Depends").startswith("libc6 (>= 2.")
    listing = {
        line.split()[-1]: (line.split()[0], line.split()[1])
        for line in dpkg_deb("--contents", str(deb)).splitlines()
    }
    assert listing["./usr/bin/proxmon-agent"] == ("-rwxr-xr-x", "root/root")
    assert listing["./usr/lib/systemd/system/proxmon-agent.service"] == ("-rw-r--r--", "root/root")
    assert listing["./usr/share/doc/proxmon-agent/agent.toml.example"][1] == "root/root"
    assert listing["./"][0] == "drwxr-xr-x"
    # no token, no config in /etc: the operator writes agent.toml
    assert not [name for name in listing if name.startswith("./etc")]


def test_unit_runs_the_packaged_binary_and_is_otherwise_the_projects(tmp_path):
    deb = build(tmp_path)
    tree = tmp_path / "tree"
    dpkg_deb("-x", str(deb), str(tree))
    unit = (tree / "usr/lib/systemd/system/proxmon-agent.service").read_text()
    shipped = (ROOT / "deploy/proxmon-agent.service").read_text()
    assert "ExecStart=/usr/bin/proxmon-agent run --config /etc/proxmon/agent.toml" in unit
    assert "/usr/local" not in unit
    assert unit == shipped.replace("/usr/local/bin/", "/usr/bin/")
    template = tree / "usr/share/doc/proxmon-agent/agent.toml.example"
    assert template.read_bytes() == (ROOT / "deploy/agent.toml.example").read_bytes()
    assert (tree / "usr/bin/proxmon-agent").read_text() == "#!/bin/sh\necho stand-in\n"


def test_maintainer_scripts_are_valid_shell_and_never_start_without_a_config(tmp_path):
    deb = build(tmp_path)
    control = tmp_path / "control"
    dpkg_deb("-e", str(deb), str(control))
    for name in ("postinst", "prerm", "postrm"):
        script = control / name
        assert os.access(script, os.X_OK), name
        subprocess.run(["sh", "-n", str(script)], check=True, timeout=10)
    postinst = (control / "postinst").read_text()
    # the service is enabled only once the operator has put the config (and token) in place
    assert "if [ -f /etc/proxmon/agent.toml ]; then" in postinst
    assert postinst.index("agent.toml ]") < postinst.index("systemctl enable proxmon-agent")


def test_no_binary_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [str(ROOT / "scripts/build-deb")],
        env={**os.environ, "BINARY": str(tmp_path / "missing"), "OUT": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no executable agent binary" in result.stderr and "scripts/build-agent" in result.stderr
