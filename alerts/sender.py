"""Delivering the outbox through Apprise: at least once, never again after a success.

`send_channel(channel_id)` sends the channel's due deliveries oldest first and stops at the
first failure (the order of a channel's messages holds, and a dead channel costs one attempt
per round). Each attempt:

1. claims the delivery (compare-and-set on its next_attempt_at), so that no two senders ever
   send the same attempt, even if a lease holder stalls and another takes over;
2. sends it with Apprise, with an `Idempotency-Key` header (the delivery's key) on webhook
   URLs (json://, xml://, form://);
3. records the outcome in its own transaction: delivered, or the next attempt after
   PROXMON_ALERT_RETRY_BASE_S doubling up to PROXMON_ALERT_RETRY_MAX_S, or after the
   receiver's Retry-After. Nothing is ever dropped; a channel that keeps failing keeps
   retrying at the cap and shows as failing.

A crash between 2 and 3 sends the message again later: at-least-once. The idempotency key lets
a receiver drop that rare duplicate. A delivery marked delivered is never sent again.

URLs hold secrets: they are never logged, and the answer stored for the delivery log (what
Apprise said) has every part of the URL that the masked form does not show cut out.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import Channel, Delivery, mask_url

log = logging.getLogger(__name__)

# Longer than Apprise's connect + read timeouts (4 + 4 s by default): the claim of an attempt.
CLAIM_S = 120
ANSWER_CHARS = 500
RETRY_AFTER_MAX_S = 86400
SIGNATURE_HEADER = "X-Proxmon-Signature"


@dataclass
class Result:
    ok: bool
    answer: str
    retry_after_s: float | None = None


def send_channel(channel_id: int, now: datetime | None = None) -> int:
    """Send the due deliveries of one channel, oldest first; returns how many were delivered."""
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return 0
    delivered = 0
    due = (
        Delivery.objects.filter(
            channel_id=channel_id,
            state=Delivery.State.PENDING,
            next_attempt_at__lte=now or timezone.now(),
        )
        .order_by("created_at", "id")
        .values_list("id", "next_attempt_at")
    )
    for delivery_id, next_attempt_at in list(due[:100]):
        if not attempt(channel, delivery_id, next_attempt_at):
            break
        delivered += 1
    return delivered


def due_channels(now: datetime | None = None) -> list[int]:
    return list(
        Delivery.objects.filter(
            state=Delivery.State.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .values_list("channel_id", flat=True)
        .distinct()
    )


def attempt(channel: Channel, delivery_id: int, next_attempt_at: datetime) -> bool:
    """One attempt at one delivery; True if it is delivered."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at=next_attempt_at
    ).update(next_attempt_at=now + timedelta(seconds=CLAIM_S))
    if not claimed:
        return False  # another sender has it
    delivery = Delivery.objects.get(pk=delivery_id)
    result = notify(
        channel.url, delivery.title, delivery.body, str(delivery.key), channel.signing_secret
    )
    done = timezone.now()
    with transaction.atomic():
        if result.ok:
            Delivery.objects.filter(pk=delivery_id).update(
                state=Delivery.State.DELIVERED,
                delivered_at=done,
                attempts=F("attempts") + 1,
                answer=result.answer[:ANSWER_CHARS],
            )
            Channel.objects.filter(pk=channel.pk).update(last_ok_at=done)
        else:
            wait = backoff(delivery.attempts + 1, result.retry_after_s)
            Delivery.objects.filter(pk=delivery_id).update(
                attempts=F("attempts") + 1,
                next_attempt_at=done + timedelta(seconds=wait),
                answer=result.answer[:ANSWER_CHARS],
            )
            Channel.objects.filter(pk=channel.pk).update(
                last_error_at=done, last_error=result.answer[:ANSWER_CHARS]
            )
            log.warning(
                "delivery %s to channel %s failed (attempt %d, next in %.0f s): %s",
                delivery_id,
                channel.name,
                delivery.attempts + 1,
                wait,
                result.answer,
            )
    return result.ok


def backoff(attempts: int, retry_after_s: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones."""
    base, cap = settings.PROXMON_ALERT_RETRY_BASE_S, settings.PROXMON_ALERT_RETRY_MAX_S
    wait = min(cap, base * 2 ** min(attempts - 1, 30))
    if retry_after_s is not None:
        wait = min(max(wait, retry_after_s), RETRY_AFTER_MAX_S)
    return wait


def notify(url: str, title: str, body: str, key: str, secret: str = "") -> Result:
    """Send one message to one Apprise URL; what happened, in words without the URL's secrets.

    With a `secret`, every HTTP request of the send carries `X-Proxmon-Signature:
    sha256=<hex HMAC-SHA256 of the exact body with the secret>`, for receivers that check it.
    """
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return Result(False, "Apprise does not understand this URL")
    if isinstance(getattr(plugin, "headers", None), dict):
        plugin.headers["Idempotency-Key"] = key  # type: ignore[attr-defined]
    with _apprise_log() as lines, _responses(secret) as responses:
        try:
            ok = bool(plugin.notify(title=title, body=body))
        except Exception as exc:  # a plugin bug must not stop the sender
            ok = False
            lines.append(f"{type(exc).__name__}: {exc}")
    statuses = [str(status) for status, _ in responses]
    answer = " ".join(lines) or ("sent" if ok else "failed")
    if statuses:
        answer = f"HTTP {', '.join(statuses)}: {answer}"
    retry_after = None
    for status, headers in responses:
        if status in (429, 503) and headers.get("Retry-After"):
            retry_after = _seconds(headers["Retry-After"])
    return Result(ok, scrub(answer, url), retry_after)


def scrub(text: str, url: str) -> str:
    """`text` without any part of `url` that its masked form hides (tokens, passwords, paths)."""
    shown = set(re.split(r"[^A-Za-z0-9._~-]+", mask_url(url)))
    for piece in sorted(set(re.split(r"[^A-Za-z0-9._~%-]+", url)), key=len, reverse=True):
        if len(piece) >= 4 and piece not in shown:
            text = text.replace(piece, "***")
    return " ".join(text.split())


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


# --- what Apprise said and what the receiver answered, for this thread only -----------------

_local = threading.local()


class _ThreadLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextlib.contextmanager
def _apprise_log():
    handler = _ThreadLines()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


_patch_lock = threading.Lock()
_patched = False


@contextlib.contextmanager
def _responses(secret: str = ""):
    """The (status, headers) of HTTP responses requests received in this thread meanwhile.

    Apprise returns only True or False; Retry-After is in the response, which requests hands
    to Session.send's caller, and the exact body to sign is in the prepared request it is
    given. Outside this context the wrapper only passes requests and responses on.
    """
    global _patched
    import requests

    with _patch_lock:
        if not _patched:
            original = requests.Session.send

            def send(self, request, **kwargs):
                key = getattr(_local, "secret", "")
                if key and getattr(_local, "responses", None) is not None:
                    body = request.body or b""
                    body = body.encode() if isinstance(body, str) else body
                    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
                    request.headers[SIGNATURE_HEADER] = f"sha256={digest}"
                response = original(self, request, **kwargs)
                seen = getattr(_local, "responses", None)
                if seen is not None:
                    seen.append((response.status_code, dict(response.headers)))
                return response

            requests.Session.send = send  # type: ignore[method-assign]
            _patched = True
    _local.responses, _local.secret = [], secret
    try:
        yield _local.responses
    finally:
        _local.responses, _local.secret = None, ""
