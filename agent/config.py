"""The agent's configuration: /etc/proxmon/agent.toml, checked strictly before anything runs.

A wrong config is refused with one line naming the file and the key, because a service that
starts with a typo (`fast_second = 5`, a world-readable token) fails silently for weeks
otherwise. The token never appears in a message, a log line or the Config's repr.

    server_url = "wss://monitor.example.com/ws/agent"
    token = "..."                      # or token_file = "/etc/proxmon/token"
    host = "pve-host-01"               # optional, default: the short hostname
    ca_file = "/etc/proxmon/ca.pem"    # optional
    allow_insecure = false             # optional: plain ws:// to a non-loopback server
    [intervals]                        # optional, seconds
    fast_seconds = 30
    medium_seconds = 300
    slow_seconds = 1800
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import stat
import tomllib
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

DEFAULT_PATH = "/etc/proxmon/agent.toml"

DEFAULT_INTERVALS = {"fast_seconds": 30, "medium_seconds": 300, "slow_seconds": 1800}
# One second is the floor: the end-to-end tests run at 1/2/3 s; the collectors themselves take
# a fraction of a second. A day is the ceiling: a slower tier would look dead on the server.
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 86400

TOP_KEYS = ("server_url", "token", "token_file", "host", "ca_file", "allow_insecure", "intervals")

# What the server accepts as a host name (a DNS label, as a Proxmox node name is).
HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


class ConfigError(Exception):
    """The configuration cannot be used; the message says which file and key, and why."""


@dataclass(frozen=True)
class Config:
    path: str
    server_url: str
    token: str
    host: str
    ca_file: str | None = None
    allow_insecure: bool = False
    fast_seconds: int = 30
    medium_seconds: int = 300
    slow_seconds: int = 1800

    def __repr__(self) -> str:
        return (
            f"Config(path={self.path!r}, server_url={self.server_url!r}, token=<hidden>, "
            f"host={self.host!r}, ca_file={self.ca_file!r}, "
            f"allow_insecure={self.allow_insecure!r}, intervals=({self.fast_seconds}, "
            f"{self.medium_seconds}, {self.slow_seconds}))"
        )

    __str__ = __repr__

    @property
    def intervals(self) -> dict[str, int]:
        return {
            "fast": self.fast_seconds,
            "medium": self.medium_seconds,
            "slow": self.slow_seconds,
        }

    def ssl_context(self) -> ssl.SSLContext | None:
        """Certificate and host name checks on: the system trust store, or `ca_file` only."""
        if not self.server_url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.ca_file)


def load(path: str | os.PathLike[str] = DEFAULT_PATH) -> Config:
    """Read and check the config file; raises ConfigError."""
    where = str(path)
    raw = _read_private(where, what="config file")
    try:
        doc = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says "(at line N, column M)" and never quotes the text.
        raise ConfigError(f"{where}: TOML syntax error: {exc}") from None
    return parse(doc, where)


def parse(doc: dict[str, Any], where: str) -> Config:
    """Check a decoded TOML document; `where` names the file in every message."""
    for key in doc:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: {key}: unknown key (known: {', '.join(TOP_KEYS)})")

    url = _string(doc, "server_url", where, required=True)
    allow_insecure = doc.get("allow_insecure", False)
    if not isinstance(allow_insecure, bool):
        raise ConfigError(f"{where}: allow_insecure: expected true or false")
    _check_url(url, allow_insecure, where)

    token = _token(doc, where)

    host = _string(doc, "host", where)
    if host is None:
        host = socket.gethostname().split(".", 1)[0]
        if not HOST_NAME.match(host):
            raise ConfigError(
                f"{where}: host: not set, and the hostname {host!r} is not a DNS label; "
                'set host = "<name as registered on the server>"'
            )
    elif not HOST_NAME.match(host):
        raise ConfigError(
            f"{where}: host: {host!r} is not a valid host name (a DNS label: letters, digits "
            "and hyphens, 1 to 63 characters)"
        )

    ca_file = _string(doc, "ca_file", where)
    if ca_file is not None:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"{where}: ca_file: cannot load {ca_file}: {reason}") from None

    intervals = _intervals(doc.get("intervals", {}), where)
    return Config(
        path=where,
        server_url=url,
        token=token,
        host=host,
        ca_file=ca_file,
        allow_insecure=allow_insecure,
        **intervals,
    )


@overload
def _string(doc: dict[str, Any], key: str, where: str, required: Literal[True]) -> str: ...
@overload
def _string(doc: dict[str, Any], key: str, where: str, required: bool = False) -> str | None: ...
def _string(doc: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    if key not in doc:
        if required:
            raise ConfigError(f"{where}: {key}: missing")
        return None
    value = doc[key]
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key}: expected a string, got {_toml_type(value)}")
    if not value.strip():
        raise ConfigError(f"{where}: {key}: is empty")
    return value.strip()


def _check_url(url: str, allow_insecure: bool, where: str) -> None:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{where}: server_url: not a valid URL ({exc})") from None
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError(
            f"{where}: server_url: must start with wss:// (or ws:// to loopback), "
            f"got {parts.scheme or 'no'} scheme"
        )
    if not hostname:
        raise ConfigError(f"{where}: server_url: has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{where}: server_url: must not carry credentials (user@)")
    try:
        parse_uri(url)  # what the WebSocket client will accept (no fragment, ...)
    except InvalidURI as exc:
        raise ConfigError(f"{where}: server_url: not a valid WebSocket URL ({exc})") from None
    if parts.scheme == "ws" and not allow_insecure and not _is_loopback(hostname):
        raise ConfigError(
            f"{where}: server_url: plain ws:// to {hostname} sends the token unencrypted; "
            "use wss:// or set allow_insecure = true"
        )


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _token(doc: dict[str, Any], where: str) -> str:
    has_token, has_file = "token" in doc, "token_file" in doc
    if has_token == has_file:
        which = "both are set" if has_token else "neither is set"
        raise ConfigError(f"{where}: token: set exactly one of token and token_file ({which})")
    if has_token:
        value = doc["token"]
        if not isinstance(value, str):
            raise ConfigError(f"{where}: token: expected a string, got {_toml_type(value)}")
        token = value.strip()
        if not token:
            raise ConfigError(f"{where}: token: is empty")
        return token
    token_file = _string(doc, "token_file", where, required=True)
    assert token_file is not None
    try:
        token = _read_private(token_file, what="token file").strip()
    except ConfigError as exc:
        raise ConfigError(f"{where}: token_file: {exc}") from None
    if not token:
        raise ConfigError(f"{where}: token_file: {token_file} is empty")
    return token


def _read_private(path: str, what: str) -> str:
    """Read a file that may hold the token, refusing it when group or others can access it."""
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{path}: the {what} is not a regular file")
            if mode & 0o077:
                raise ConfigError(
                    f"{path}: the {what} is accessible by group or others "
                    f"(mode {stat.S_IMODE(mode):04o}) and may hold the token: "
                    f"run chmod 600 {path}"
                )
            return handle.read()
    except ConfigError:
        raise
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None


def _intervals(table: Any, where: str) -> dict[str, int]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: intervals: expected a table ([intervals])")
    result = dict(DEFAULT_INTERVALS)
    for key, value in table.items():
        if key not in DEFAULT_INTERVALS:
            known = ", ".join(DEFAULT_INTERVALS)
            raise ConfigError(f"{where}: intervals.{key}: unknown key (known: {known})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{where}: intervals.{key}: expected whole seconds, got {_toml_type(value)}"
            )
        if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
            raise ConfigError(
                f"{where}: intervals.{key}: {value} is out of range "
                f"({MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds)"
            )
        result[key] = value
    return result


def _toml_type(value: Any) -> str:
    """The TOML name of a value's type, never the value (it could be the token)."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a date or time"
