"""Tiny helpers that read settings from environment variables, naming the variable on error.

A value that cannot be read (no number, no boolean, a secret file that is missing) raises here:
settings.py cannot load, and manage.py prints that one line. A value that reads but lies outside
its bounds (`minimum=`, `maximum=`) is only recorded in OUT_OF_RANGE: the system check
proxmon.E002 (proxmon/checks.py) reports all of them at once, each naming its variable.
"""

from __future__ import annotations

import math
import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# (variable, why) for every value read that lies outside its bounds; see proxmon/checks.py
OUT_OF_RANGE: list[tuple[str, str]] = []


def string(name: str, default: str = "") -> str:
    """A variable's value, or the contents of the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            with open(file_name, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def boolean(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false")


def integer(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None
    _bounds(name, raw, value, minimum, maximum)
    return value


def number(name: str, default: float, minimum: float = 0.0, maximum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a finite number")
    _bounds(name, raw, value, minimum, maximum)
    return value


def _bounds(name: str, raw: str, value: float, minimum: float, maximum: float | None) -> None:
    if value < minimum:
        OUT_OF_RANGE.append((name, f"{name}={raw!r}: must be at least {minimum:g}"))
    elif maximum is not None and value > maximum:
        OUT_OF_RANGE.append((name, f"{name}={raw!r}: must be at most {maximum:g}"))


def strings(name: str, default: str = "") -> list[str]:
    """A comma-separated list; empty items are dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
DATABASE_EXAMPLES = (
    "sqlite:////var/lib/proxmon/db.sqlite3 or postgres://USER:PASSWORD@HOST:5432/NAME"
)


def database_url(name: str, default: str) -> str:
    """A database URL proxmon runs on: SQLite at an absolute path, or PostgreSQL with a name.

    Anything else fails here, in one line naming the variable (never its value: it may hold a
    password), instead of later: `sqlite://db.sqlite3` was silently an in-memory database, and
    `mysql://` a driver traceback at the first query.
    """
    url = string(name, default)
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ImproperlyConfigured(f"{name}: not a URL; use {DATABASE_EXAMPLES}")
    if scheme == "sqlite":
        # sqlite:////abs/path: three slashes, then the absolute path's own
        if not rest.startswith("//") or rest in ("//", "//:memory:"):
            raise ImproperlyConfigured(
                f"{name}: SQLite needs an absolute path after sqlite:/// (four slashes in all), "
                f"e.g. sqlite:////var/lib/proxmon/db.sqlite3; got {url[:90]!r}"
            )
        return url
    if scheme in POSTGRES_SCHEMES:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: not a valid PostgreSQL URL; e.g. {DATABASE_EXAMPLES}"
            ) from None
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(
                f"{name}: a PostgreSQL URL needs a database name, "
                f"e.g. postgres://USER:PASSWORD@HOST:5432/NAME"
            )
        return url
    shown = scheme[:20] if scheme.isascii() and scheme.replace("+", "").isalnum() else "?"
    raise ImproperlyConfigured(
        f"{name}: unsupported database {shown!r} (proxmon runs on SQLite and PostgreSQL); "
        f"use {DATABASE_EXAMPLES}"
    )
