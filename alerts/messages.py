"""The words of a message: one per host per evaluation, worst first.

    [critical] pve7: tank DEGRADED since 12:03 (1 device not online)
    [warning] pve7: rpool 85 % full since 11:40
    [resolved] pve7: 12 updates pending, since 09:12, resolved at 12:05
    https://monitor.example.com/hosts/pve7/

Times are in the server's TIME_ZONE; a day other than today is written before the time.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from alerts.evaluation import Item
from metrics.status import RANK

SUFFIX = {
    "escalated": " (now critical)",
    "repeat": " (still firing)",
}


def line(host: str, item: Item, now: datetime) -> str:
    alert = item.alert
    since = when(alert.since, now)
    if item.kind == "resolved":
        return f"[resolved] {host}: {alert.text}, since {since}, resolved at {when(now, now)}"
    text = f"[{alert.level}] {host}: {alert.text} since {since}"
    if alert.detail:
        text += f" ({alert.detail})"
    text += SUFFIX.get(item.kind, "")
    if alert.flapping:
        text += " (flapping: held as firing until it stays away for 30 min)"
    return text


def compose(host: str, items: list[Item], now: datetime, link: str) -> tuple[str, str]:
    """(title, body) of the message about `items` (worst first already)."""
    first = items[0]
    more = f" and {len(items) - 1} more" if len(items) > 1 else ""
    state = "resolved: " if first.kind == "resolved" else ""
    title = f"{host}: {state}{first.alert.text}{more}"
    body = "\n".join([*(line(host, item, now) for item in items), link])
    return title[:255], body


def for_channel(items: list[Item], min_level: str) -> list[Item]:
    return [item for item in items if RANK[item.alert.level] <= RANK[min_level]]


def when(moment: datetime, now: datetime) -> str:
    local, today = timezone.localtime(moment), timezone.localtime(now)
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%b} {local.day} {local:%H:%M}"
