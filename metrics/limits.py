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
    forwarded = []
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
    """Failed attempts per client address in a sliding minute, kept in this process.

    Only failures count: for agent joins (4429), a site with many hosts behind one NAT address
    reconnects all of them after a server restart, while guessing tokens from one address stays
    slow; for web logins, a right password is never refused because of someone else's typos.
    """

    WINDOW_S = 60.0

    def __init__(self, limit, clock=time.monotonic) -> None:
        self.limit = limit  # a callable, so tests can change the setting
        self.clock = clock
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        times = self.failures.get(address)
        if times is None:
            return deque()
        cutoff = self.clock() - self.WINDOW_S
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self.failures[address]
        return times

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self.limit()

    def failed(self, address: str) -> None:
        self._recent(address)
        self.failures.setdefault(address, deque()).append(self.clock())
        if len(self.failures) > 100_000:  # bound memory under an address-spraying flood
            oldest = min(self.failures, key=lambda a: self.failures[a][-1])
            del self.failures[oldest]

    def reset(self) -> None:
        self.failures.clear()


join_limiter = FailureLimiter(lambda: settings.PROXMON_JOIN_FAILURES_PER_MINUTE)
login_limiter = FailureLimiter(lambda: settings.PROXMON_LOGIN_FAILURES_PER_MINUTE)
