"""Settings come from the environment; production refuses to run half-configured."""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from liveserver import free_port

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DEBUG"))}
    clean.pop("PROXMON_HTTPS", None)
    clean["SECRET_KEY_FILE"] = ""  # not the var/secret_key that scripts/run may have made
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


# --- configuration errors: one line naming the variable, at start --------------------------


def one_line_naming(result: subprocess.CompletedProcess, variable: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert variable in line
    return line


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite://relative.db", "SQLite needs an absolute path"),
        ("sqlite:///relative.db", "SQLite needs an absolute path"),
        ("sqlite:///:memory:", "SQLite needs an absolute path"),
        ("mysql://proxmon:s3cret@db.example.com/proxmon", "unsupported database 'mysql'"),
        ("redis://127.0.0.1:6379/0", "unsupported database 'redis'"),
        ("postgres://proxmon:s3cret@db.example.com", "a PostgreSQL URL needs a database name"),
        ("postgres://proxmon:s3cret@db.example.com:port/proxmon", "not a valid PostgreSQL URL"),
        ("db.sqlite3", "not a URL"),
    ],
)
def test_bad_database_url_is_one_line_naming_the_variable(url, reason):
    result = manage("check", SECRET_KEY="k" * 60, DATABASE_URL=url)
    line = one_line_naming(result, "DATABASE_URL")
    assert reason in line
    assert "s3cret" not in line  # the URL's password is never printed


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/proxmon/db.sqlite3",
        "postgres://proxmon:s3cret@db.example.com:5432/proxmon",
        "postgresql://db.example.com/proxmon",
        "pgsql:///proxmon",  # the local socket
    ],
)
def test_database_urls_proxmon_runs_on_pass(url):
    result = manage("check", SECRET_KEY="k" * 60, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr


def test_missing_secret_key_is_one_line_not_a_traceback():
    one_line_naming(manage("check"), "SECRET_KEY")


def test_number_that_is_no_number_is_one_line_not_a_traceback():
    result = manage("check", SECRET_KEY="k" * 60, PROXMON_PING_TIMEOUT_S="forty")
    one_line_naming(result, "PROXMON_PING_TIMEOUT_S")


BAD_PUBLIC_URLS = [
    ("monitor.example.com", "needs a scheme"),
    ("monitor.example.com:8000", "needs a scheme"),
    ("ftp://monitor.example.com", "needs a scheme"),
    ("https://", "needs a host name"),
    ("https://monitor.example.com/?agent=1", "must not have a query string"),
    ("https://monitor.example.com/#agents", "must not have a fragment"),
    ("https://monitor.example.com:https", "not a valid URL"),
    ("https://admin:s3cret@monitor.example.com", "must not hold a user name or password"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_PUBLIC_URLS, ids=[u for u, _ in BAD_PUBLIC_URLS])
def test_bad_public_url_fails_the_system_check_naming_the_variable(url, reason):
    result = manage("check", SECRET_KEY="k" * 60, PROXMON_PUBLIC_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "proxmon.E001" in line]
    assert "PROXMON_PUBLIC_URL=" in line and reason in line
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://monitor.example.com",
        "https://monitor.example.com/",
        "http://10.0.4.2:8000",
        "wss://monitor.example.com/proxmon",
        "http://[fd00::2]:8000",
    ],
)
def test_public_urls_agents_can_dial_pass(url):
    result = manage("check", SECRET_KEY="k" * 60, PROXMON_PUBLIC_URL=url)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [("migrate", "--noinput"), ("serve", "--port")])
def test_migrate_and_serve_refuse_to_start_with_a_bad_public_url(tmp_path, command):
    if command[0] == "serve":
        command = (*command, str(free_port()))
    result = manage(
        *command,
        SECRET_KEY="k" * 60,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PROXMON_PUBLIC_URL="monitor.example.com",
    )
    assert result.returncode == 1
    assert "proxmon.E001" in result.stderr and "Traceback" not in result.stderr
    database = tmp_path / "db.sqlite3"
    if database.exists():  # the checks may open it; nothing may have been migrated
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_readme_lists_every_variable_the_settings_read():
    tree = ast.parse((ROOT / "proxmon/settings.py").read_text())
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(read) > 30
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {
        name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }
    assert sorted(read - listed) == []
