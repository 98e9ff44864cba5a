import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import LogFormatter
from agent.config import Config, ConfigError, load

TOKEN = "Kq3vX9-distinctive-token-value-0123456789abcde"
URL = "wss://monitor.example.com/ws/agent"
REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def config_file(tmp_path):
    def make(text: str, mode: int = 0o600) -> Path:
        return write(tmp_path / "agent.toml", text, mode)

    return make


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert TOKEN not in message
    return message


def test_minimal_config_takes_defaults(config_file):
    config = load(config_file(f'server_url = "{URL}"\ntoken = "{TOKEN}"\n'))
    assert config.server_url == URL
    assert config.token == TOKEN
    assert config.host == socket.gethostname().split(".")[0]
    assert config.intervals == {"fast": 30, "medium": 300, "slow": 1800}
    assert config.allow_insecure is False
    assert config.ca_file is None
    assert config.ssl_context() is not None  # wss: verified TLS


def test_full_config(config_file, tmp_path):
    token_file = write(tmp_path / "token", f"{TOKEN}\n")
    config = load(
        config_file(
            f'server_url = "ws://10.0.0.5:8000/ws/agent"\ntoken_file = "{token_file}"\n'
            'host = "pve-host-01"\nallow_insecure = true\n'
            "[intervals]\nfast_seconds = 1\nmedium_seconds = 2\nslow_seconds = 3\n"
        )
    )
    assert config.token == TOKEN
    assert config.host == "pve-host-01"
    assert config.intervals == {"fast": 1, "medium": 2, "slow": 3}
    assert config.ssl_context() is None


def test_token_is_hidden_from_repr_and_str(config_file):
    config = load(config_file(f'server_url = "{URL}"\ntoken = "{TOKEN}"\n'))
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert "token=<hidden>" in repr(config)


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8000/ws/agent", "ws://localhost/ws/agent", "ws://[::1]:8000/ws/agent"]
)
def test_plain_ws_to_loopback_is_allowed(config_file, url):
    assert load(config_file(f'server_url = "{url}"\ntoken = "{TOKEN}"\n')).server_url == url


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.toml"
    message = refused(path)
    assert str(path) in message and "No such file" in message


def test_toml_syntax_error_names_the_line(config_file):
    path = config_file(f'server_url = "{URL}"\ntoken = "{TOKEN}\n')
    message = refused(path)
    assert str(path) in message and "TOML syntax error" in message and "line 2" in message


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (f'token = "{TOKEN}"\n', "server_url", "missing"),
        (f'server_url = 5\ntoken = "{TOKEN}"\n', "server_url", "expected a string, got an integer"),
        (f'server_url = "{URL}"\n', "token", "exactly one of token and token_file"),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\ntoken_file = "/x"\n',
            "token",
            "both are set",
        ),
        (f'server_url = "{URL}"\ntoken = ""\n', "token", "is empty"),
        (f'server_url = "{URL}"\ntoken = 12345\n', "token", "expected a string"),
        (f'server_url = "{URL}"\ntoken = "{TOKEN}"\nhots = "a"\n', "hots", "unknown key"),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\nallow_insecure = "yes"\n',
            "allow_insecure",
            "expected true or false",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\nhost = "pve_01.lan"\n',
            "host",
            "not a valid host name",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\n[intervals]\nfast_second = 5\n',
            "intervals.fast_second",
            "unknown key",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\n[intervals]\nfast_seconds = 0\n',
            "intervals.fast_seconds",
            "out of range",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\n[intervals]\nslow_seconds = 2.5\n',
            "intervals.slow_seconds",
            "expected whole seconds, got a float",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\n[intervals]\nfast_seconds = true\n',
            "intervals.fast_seconds",
            "got a boolean",
        ),
        (f'server_url = "{URL}"\ntoken = "{TOKEN}"\nintervals = 3\n', "intervals", "table"),
        (
            f'server_url = "https://monitor.example.com/ws/agent"\ntoken = "{TOKEN}"\n',
            "server_url",
            "must start with wss://",
        ),
        (
            f'server_url = "ws://monitor.example.com/ws/agent"\ntoken = "{TOKEN}"\n',
            "server_url",
            "allow_insecure = true",
        ),
        (
            f'server_url = "wss://user:pw@monitor.example.com/ws/agent"\ntoken = "{TOKEN}"\n',
            "server_url",
            "credentials",
        ),
        (
            f'server_url = "{URL}#here"\ntoken = "{TOKEN}"\n',
            "server_url",
            "not a valid WebSocket URL",
        ),
        (
            f'server_url = "{URL}"\ntoken = "{TOKEN}"\nca_file = "/nonexistent/ca.pem"\n',
            "ca_file",
            "cannot load /nonexistent/ca.pem",
        ),
    ],
)
def test_bad_config_is_refused_naming_file_and_key(config_file, text, key, problem):
    path = config_file(text)
    message = refused(path)
    assert message.startswith(f"{path}: {key}: ")
    assert problem in message


def test_plain_ws_to_a_remote_host_needs_allow_insecure(config_file):
    text = f'server_url = "ws://10.0.0.5/ws/agent"\ntoken = "{TOKEN}"\nallow_insecure = true\n'
    assert load(config_file(text)).allow_insecure is True


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_config_readable_by_others_is_refused(config_file, mode):
    path = config_file(f'server_url = "{URL}"\ntoken = "{TOKEN}"\n', mode=mode)
    message = refused(path)
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message


def test_token_file_readable_by_others_is_refused(config_file, tmp_path):
    token_file = write(tmp_path / "token", TOKEN, mode=0o644)
    message = refused(config_file(f'server_url = "{URL}"\ntoken_file = "{token_file}"\n'))
    assert "token_file" in message and f"chmod 600 {token_file}" in message


def test_empty_token_file_is_refused(config_file, tmp_path):
    token_file = write(tmp_path / "token", "\n  \n")
    message = refused(config_file(f'server_url = "{URL}"\ntoken_file = "{token_file}"\n'))
    assert f"token_file: {token_file} is empty" in message


def test_missing_token_file_is_refused(config_file, tmp_path):
    message = refused(config_file(f'server_url = "{URL}"\ntoken_file = "{tmp_path / "missing"}"\n'))
    assert "token_file" in message and "No such file" in message


def test_run_with_a_bad_config_exits_2_with_the_reason(config_file):
    path = config_file(f'server_url = "{URL}"\ntoken = "{TOKEN}"\n', mode=0o644)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2
    assert f"chmod 600 {path}" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_config_repr_without_a_file():
    config = Config(path="x.toml", server_url=URL, token=TOKEN, host="pve")
    assert TOKEN not in repr(config)


@pytest.mark.parametrize("journald", [False, True])
def test_log_lines_never_carry_the_token(journald):
    formatter = LogFormatter(journald=journald, secrets=[TOKEN])
    try:
        raise ValueError(f"join failed for {TOKEN}")
    except ValueError:
        record = logging.LogRecord(
            "proxmon.agent", logging.WARNING, __file__, 1, "sent %s", (TOKEN,), sys.exc_info()
        )
    text = formatter.format(record)
    assert TOKEN not in text
    assert "sent <token>" in text and "ValueError: join failed for <token>" in text
    if journald:  # syslog priority per line, for journald
        assert all(line.startswith("<4>") for line in text.splitlines())
