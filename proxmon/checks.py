"""System checks of settings that load but would misbehave later; each names its variable.

They run with `manage.py check`, `migrate` and `serve` (and every other command that checks).
Settings that cannot load at all (DATABASE_URL, SECRET_KEY, a number that is no number) fail
in proxmon/settings.py itself, one line naming the variable (manage.py prints only that line).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

PUBLIC_URL_SCHEMES = ("https", "http", "wss", "ws")


@register()
def check_public_url(app_configs, **kwargs) -> list[Error]:
    value = settings.PROXMON_PUBLIC_URL
    problem = public_url_problem(value) if value else None
    if problem is None:
        return []
    shown = repr(value[:200]) if "@" not in value else "(not shown: it holds credentials)"
    return [
        Error(
            f"PROXMON_PUBLIC_URL={shown}: {problem}",
            hint="The address agents reach this server at, e.g. https://monitor.example.com "
            "(unset: taken from the request that shows the install steps).",
            id="proxmon.E001",
        )
    ]


def public_url_problem(value: str) -> str | None:
    """Why `value` is not a URL agents can be told to dial, or None."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in PUBLIC_URL_SCHEMES:
        return "needs a scheme: https://, http://, wss:// or ws://"
    if not parts.hostname:
        return "needs a host name"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password"
    if parts.query or "?" in value:
        return "must not have a query string (?...)"
    if parts.fragment or "#" in value:
        return "must not have a fragment (#...)"
    return None
