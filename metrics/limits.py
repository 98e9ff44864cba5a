"""Who is connecting, and how often they may fail to join."""

from __future__ import annotations

import ipaddress
import time
from collections import deque

from django.conf import settings


def client_address(scope: dict) -> str:
    """The agent's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.

    The right-most address in X-Forwarded-For that is not itself a trusted proxy is the client:
    entries further left were written by the client and prove nothing.
    """
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _trusted(peer):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    for address in reversed([a for a in forwarded if a]):
        if not _trusted(address):
            return address
    return peer


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


_networks_cache: tuple[tuple[str, ...], list] = ((), [])


def _trusted_networks() -> list:
    global _networks_cache
    configured = tuple(settings.PROXMON_TRUSTED_PROXIES)
    if _networks_cache[0] != configured:
        _networks_cache = (
            configured,
            [ipaddress.ip_network(item, strict=False) for item in configured],
        )
    return _networks_cache[1]


class FailureLimiter:
    """Failed attempts in a sliding minute, per client address and name, kept in this process.

    Only failures count, and two ways:

    - per (address, name): at `per_name()` failures (PROXMON_*_FAILURES_PER_MINUTE) that name is
      refused from that address, the right credential too, for the rest of the minute: a
      guesser of one name gets `per_name()` guesses a minute. Refused attempts do not count, so
      one failing client (a host with a stale token, a person typing a wrong password) adds at
      most `per_name()` to its address's failures a minute.
    - per address: at `per_address()` failures (PROXMON_*_FAILURES_PER_ADDRESS, 10x) the
      address is refused for every name that has not succeeded from it within the last day.
      It takes failures under ten names or more in a minute to get there: spraying names.

    So many hosts or people behind one NAT address are not locked out by one of them failing:
    the others' names have no failures of their own. And when someone does spray names from
    that address, those who already got in from there (the agents that were connected, the
    admin who logged in this morning) still get in with the right credential, within their
    own per-name limit; what stays refused is a name new to the address. Letting every name
    without failures of its own through instead would bound nothing: a sprayer's every next
    name is new, and each guess would be checked (a bcrypt for joins, a password check for
    logins). A name with a success is not new to the sprayer either, but it is one the
    per-name limit already bounds. Guessing from one address is thus at most `per_address()`
    plus `per_name()` for each name that succeeded from there, a minute.
    """

    WINDOW_S = 60.0
    REMEMBER_SUCCESS_S = 86400.0
    MAX_KEYS = 100_000  # bound memory under an address-spraying flood

    def __init__(self, per_name, per_address, clock=time.monotonic) -> None:
        # callables, so tests can change the settings
        self.per_name = per_name
        self.per_address = per_address
        self.clock = clock
        self.failures: dict[object, deque[float]] = {}  # keys: address, (address, name)
        self.successes: dict[tuple[str, str], float] = {}

    def _recent(self, key) -> int:
        times = self.failures.get(key)
        if times is None:
            return 0
        cutoff = self.clock() - self.WINDOW_S
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self.failures[key]
        return len(times)

    def blocked(self, address: str, name: str) -> bool:
        """Whether an attempt for this name from this address is refused unchecked."""
        name = _normal(name)
        if self._recent((address, name)) >= self.per_name():
            return True
        if self._recent(address) < self.per_address():
            return False
        succeeded = self.successes.get((address, name))
        return succeeded is None or succeeded <= self.clock() - self.REMEMBER_SUCCESS_S

    def failed(self, address: str, name: str) -> None:
        now = self.clock()
        for key in (address, (address, _normal(name))):
            self._recent(key)
            self.failures.setdefault(key, deque()).append(now)
        if len(self.failures) > self.MAX_KEYS:
            oldest = min(self.failures, key=lambda k: self.failures[k][-1])
            del self.failures[oldest]

    def succeeded(self, address: str, name: str) -> None:
        self.successes[(address, _normal(name))] = self.clock()
        if len(self.successes) > self.MAX_KEYS:
            oldest = min(self.successes, key=self.successes.__getitem__)
            del self.successes[oldest]

    def reset(self) -> None:
        self.failures.clear()
        self.successes.clear()


def _normal(name: object) -> str:
    # Host names are case-insensitive, and so is the limit on user names: "Admin" and "admin"
    # are one name to a guesser.
    return name.strip().lower()[:150] if isinstance(name, str) else ""


join_limiter = FailureLimiter(
    lambda: settings.PROXMON_JOIN_FAILURES_PER_MINUTE,
    lambda: settings.PROXMON_JOIN_FAILURES_PER_ADDRESS,
)
# One limiter for every login path: /login/ and /admin/login/ (dashboard/views.py).
login_limiter = FailureLimiter(
    lambda: settings.PROXMON_LOGIN_FAILURES_PER_MINUTE,
    lambda: settings.PROXMON_LOGIN_FAILURES_PER_ADDRESS,
)
