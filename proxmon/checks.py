"""System checks of settings that load but would misbehave later; each names its variable.

They run with `manage.py check`, `migrate` and `serve` (and every other command that checks), so
a wrong value stops the server at start, all wrong values listed at once, instead of surfacing
at the first request or the first alert. Settings that cannot load at all (DATABASE_URL,
SECRET_KEY, a number that is no number) fail in proxmon/settings.py itself, one line naming the
variable (manage.py prints only that line).

How to check a new setting (ids are per kind of problem; the message names the variable):

- a bound on its own value: `minimum=` / `maximum=` where settings.py reads it with
  env.integer() / env.number(); proxmon.E002 reports it.
- an order between two settings (warning below critical, an interval shorter than the timeout
  it feeds): one `Order(...)` line in ORDERS below; proxmon.E003 (or W001 when it only
  misbehaves).
- anything else (a list of networks, a URL): a function here, registered with @register().

Ids: E001 public URL, E002 out of bounds, E003 contradicting settings, E004 trusted proxies,
E005 heartbeat URL; W001 settings that work but not as meant.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from proxmon import env

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


@register()
def check_bounds(app_configs, **kwargs) -> list[CheckMessage]:
    return [
        Error(why, hint=f'Change or unset {name} (README "Configuration").', id="proxmon.E002")
        for name, why in env.OUT_OF_RANGE
    ]


@dataclass(frozen=True)
class Order:
    """`lower` must be below `higher` (times `share`); `why` says what goes wrong otherwise."""

    lower: str
    higher: str
    why: str
    share: float = 1.0
    strict: bool = True
    id: str = "proxmon.E003"

    def message(self) -> CheckMessage | None:
        lower = getattr(settings, self.lower)
        higher = getattr(settings, self.higher)
        limit = higher * self.share
        if lower < limit or (not self.strict and lower == limit):
            return None
        relation = "below" if self.strict else "at most"
        if self.share == 1:
            of = f"{self.higher}={limit:g}"
        else:
            of = f"{self.higher} / {round(1 / self.share):d} (={limit:g})"
        level = Error if self.id.startswith("proxmon.E") else Warning
        return level(
            f"{self.lower}={lower:g} must be {relation} {of}: {self.why}",
            hint=f'Change {self.lower} or {self.higher} (README "Configuration").',
            id=self.id,
        )


ORDERS = (
    Order(
        "PROXMON_HISTORY_5M_DAYS",
        "PROXMON_HISTORY_1H_DAYS",
        "hourly history points would be pruned before the 5-minute ones, and the 90-day and "
        "1-year charts be shorter than the 30-day one",
        strict=False,
    ),
    Order(
        "PROXMON_STATUS_POOL_WARNING_PCT",
        "PROXMON_STATUS_POOL_CRITICAL_PCT",
        "a filling pool would turn critical without a warning first",
    ),
    Order(
        "PROXMON_ALERT_HYSTERESIS_PCT",
        "PROXMON_STATUS_POOL_WARNING_PCT",
        "a pool capacity alert would never clear",
    ),
    Order(
        "PROXMON_ALERT_HYSTERESIS_PCT",
        "PROXMON_STATUS_STORAGE_FULL_PCT",
        "a storage full alert would never clear",
    ),
    Order(
        "PROXMON_HISTORY_5M_DAYS",
        "PROXMON_HISTORY_1H_DAYS",
        "hourly points would be pruned while the 5-minute points of the same days are kept",
        strict=False,
    ),
    Order(
        "PROXMON_HEARTBEAT_S",
        "PROXMON_PROCESS_DEAD_AFTER_S",
        "live server processes would be taken for dead and their hosts shown offline",
    ),
    Order(
        "PROXMON_ALERT_POLL_S",
        "PROXMON_ALERT_LEASE_S",
        "the sender renews its lease every third of it, at a poll; it would lapse between polls "
        "and another process take over sending",
        share=1 / 3,
    ),
    Order(
        "PROXMON_ALERT_RETRY_BASE_S",
        "PROXMON_ALERT_RETRY_MAX_S",
        "the first retry would already wait longer than the longest",
        strict=False,
    ),
    Order(
        "PROXMON_KICK_POLL_S",
        "PROXMON_CONNECTION_CHECK_S",
        "the connection check re-reads every host anyway, so the kick poll does nothing",
        strict=False,
        id="proxmon.W001",
    ),
    Order(
        "PROXMON_JOIN_FAILURES_PER_MINUTE",
        "PROXMON_JOIN_FAILURES_PER_ADDRESS",
        "one failing host behind a NAT address would lock out the others",
        strict=False,
        id="proxmon.W001",
    ),
    Order(
        "PROXMON_LOGIN_FAILURES_PER_MINUTE",
        "PROXMON_LOGIN_FAILURES_PER_ADDRESS",
        "one person mistyping behind a NAT address would lock out the others",
        strict=False,
        id="proxmon.W001",
    ),
    Order(
        "PROXMON_ALERT_SWEEP_S",
        "PROXMON_ALERT_OFFLINE_DELAY_S",
        "offline alerts would fire up to a sweep late",
        strict=False,
        id="proxmon.W001",
    ),
)


@register()
def check_orders(app_configs, **kwargs) -> list[CheckMessage]:
    return [message for order in ORDERS if (message := order.message()) is not None]


@register()
def check_trusted_proxies(app_configs, **kwargs) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for item in settings.PROXMON_TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            problems.append(
                Error(
                    f"PROXMON_TRUSTED_PROXIES: {item[:80]!r} is not an IP address or network",
                    hint="A comma-separated list such as 127.0.0.1,::1,10.0.0.0/24 (no host "
                    "names: the peer's address is compared, not its name).",
                    id="proxmon.E004",
                )
            )
    return problems


@register()
def check_heartbeat_url(app_configs, **kwargs) -> list[CheckMessage]:
    value = settings.PROXMON_HEARTBEAT_URL
    if not value:
        return []
    problem: str | None = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as exc:
        problem = f"not a valid URL ({exc})"
    else:
        if parts.scheme not in ("https", "http"):
            problem = "needs https:// or http://"
        elif not parts.hostname:
            problem = "needs a host name"
    if problem is None:
        return []
    # never the URL itself: push URLs carry their token in the path
    return [
        Error(
            f"PROXMON_HEARTBEAT_URL: {problem}",
            hint="The URL of a dead-man's switch the sender GETs every minute, e.g. "
            "https://hc-ping.com/<uuid>.",
            id="proxmon.E005",
        )
    ]
