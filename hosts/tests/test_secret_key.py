"""The README's onboarding step right after scripts/run: `manage.py add_host` in a new shell,
with no SECRET_KEY in its environment, finds the key scripts/run wrote in var/secret_key.

Runs the real manage.py in a copy of the project (settings find var/ next to themselves), with
an operator's environment: none of the test run's settings.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    copy = tmp_path / "proxmon-checkout"
    copy.mkdir()
    # settings.py must be a real file here: BASE_DIR is where it resolves to
    shutil.copytree(ROOT / "proxmon", copy / "proxmon", ignore=shutil.ignore_patterns("tests"))
    shutil.copy2(ROOT / "manage.py", copy / "manage.py")
    apps = [p.name for p in ROOT.iterdir() if (p / "apps.py").exists() and p.name != "proxmon"]
    for name in (*apps, "templates", "static"):
        (copy / name).symlink_to(ROOT / name)
    return copy


def manage(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    operator = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROXMON_", "DJANGO_", "PYTEST_", "SECRET_KEY"))
        and k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env={**operator, "PROXMON_TOKEN_BCRYPT_ROUNDS": "4", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_add_host_after_scripts_run_finds_the_key_in_var(project):
    # what scripts/run does on its first start, for its own process only
    (project / "var").mkdir()
    key = project / "var" / "secret_key"
    key.write_text(secrets.token_urlsafe(50) + "\n")
    key.chmod(0o600)
    assert manage(project, "migrate", "-v0", SECRET_KEY_FILE=str(key)).returncode == 0

    # the README's next step, in a new shell
    added = manage(project, "add_host", "pve1")
    assert added.returncode == 0, added.stderr
    assert len(added.stdout.strip().splitlines()[-1]) == 43


def test_without_any_key_production_still_refuses_and_says_how(project):
    refused = manage(project, "check")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "SECRET_KEY is not set" in refused.stderr
    assert "var/secret_key" in refused.stderr  # where scripts/run keeps it

    # an empty var/secret_key: the key is lost, and making a new one is not the first advice
    (project / "var").mkdir()
    (project / "var" / "secret_key").write_text("")
    refused = manage(project, "check")
    assert refused.returncode == 1 and "is empty" in refused.stderr
    assert "token_urlsafe" not in refused.stderr

    # SECRET_KEY_FILE set, even empty, is the operator's choice: var/ is not looked at
    (project / "var" / "secret_key").write_text(secrets.token_urlsafe(50))
    assert manage(project, "check").returncode == 0
    assert manage(project, "check", SECRET_KEY_FILE="").returncode == 1
