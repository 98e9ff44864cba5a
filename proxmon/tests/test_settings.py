"""Settings come from the environment; production refuses to run half-configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DEBUG"))}
    clean.pop("PROXMON_HTTPS", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    key = tmp_path / "secret"
    key.write_text("k" * 60 + "\n")
    result = manage("check", SECRET_KEY_FILE=str(key))
    assert result.returncode == 0, result.stderr


def test_missing_secret_key_file_names_the_variable(tmp_path):
    result = manage("check", SECRET_KEY_FILE=str(tmp_path / "nope"))
    assert result.returncode != 0
    assert "SECRET_KEY_FILE=" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PROXMON_RETENTION_HOURS",
            "two days",
            "PROXMON_RETENTION_HOURS='two days': expected a whole number",
        ),
        ("PROXMON_RETENTION_HOURS", "0", "must be at least 1"),
        ("PROXMON_HTTPS", "maybe", "PROXMON_HTTPS='maybe': expected true or false"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL"),
    ],
)
def test_bad_values_name_the_variable(variable, value, message):
    result = manage("check", SECRET_KEY="k" * 60, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="Zt4nqY1Kc0X9pLrM2wVb8sHjD6fGa3eQ5uNoI7yTkRxWmCvBlP-_e0q9r8t7y6u5",
        ALLOWED_HOSTS="monitor.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr


POOL = (
    "from django.conf import settings; from channels_redis.utils import create_pool;"
    " pool = create_pool(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]);"
    " print(pool.connection_kwargs['socket_timeout'], pool.max_connections)"
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "30 2000"),
        ("redis://127.0.0.1:6379/0?socket_timeout=60&max_connections=50", "60.0 50"),
    ],
    ids=["defaults", "the URL's options win"],
)
def test_redis_pool_outwaits_channels_redis_blocking_reads(url, expected):
    # channels_redis blocks 5 s in BZPOPMIN; redis-py 8's 5 s socket timeout would cut it off
    result = manage("shell", "-c", POOL, SECRET_KEY="k" * 60, REDIS_URL=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == expected.split()
