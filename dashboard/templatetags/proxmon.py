"""Numbers with units and times an operator reads at a glance, and agents' text made safe to
read. A number and its unit are joined by a no-break space (NBSP): "51 %" never wraps apart."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from metrics.text import visible

register = template.Library()

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
NBSP = "\u00a0"

_UNIT_AFTER_NUMBER = re.compile(r"(\d) (?=%|s\b|min\b|h\b|days?\b)")


@register.filter(is_safe=True)
def clean(value) -> str:
    """An agent's text as a page shows it: without control and bidi control characters."""
    return visible(value)


@register.filter
def reason(text) -> str:
    """A status reason, cleaned ("tank\u202e DEGRADED" names come from agents), its numbers
    kept with their units ("rpool 92 % full", "offline for 87 s")."""
    return _UNIT_AFTER_NUMBER.sub(rf"\1{NBSP}", clean(text))


@register.filter
def bytes_(value) -> str:
    """1536 → "1.5 KiB"; binary units like ZFS and Proxmox show them."""
    if value is None or value == "":
        return "–"
    size = float(value)
    for unit in UNITS:
        if abs(size) < 1024 or unit == UNITS[-1]:
            if unit == "B":
                return f"{int(size)}{NBSP}B"
            return f"{size:.1f}{NBSP}{unit}" if abs(size) < 100 else f"{size:.0f}{NBSP}{unit}"
        size /= 1024
    return f"{size:.0f}{NBSP}{UNITS[-1]}"


@register.filter
def pct(value, digits: int = 0) -> str:
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f}{NBSP}%"


@register.filter
def ratio_pct(used, total) -> float | None:
    if not total:
        return None
    return 100.0 * float(used or 0) / float(total)


@register.filter
def duration(seconds) -> str:
    """3725 → "1 h 2 min"; 200000 → "2 d 7 h"; from ten days on just the days."""
    if seconds is None or seconds == "":
        return "–"
    seconds = int(float(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days >= 10:
        return f"{days}{NBSP}d"
    if days:
        return f"{days}{NBSP}d {hours}{NBSP}h"
    if hours:
        return f"{hours}{NBSP}h {minutes}{NBSP}min"
    if minutes:
        return f"{minutes}{NBSP}min"
    return f"{seconds}{NBSP}s"


def to_datetime(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value).replace("Z", "+00:00"))
    return parsed


def relative(moment: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    delta = (now - moment).total_seconds()
    future = delta < 0
    delta = abs(delta)
    if delta < 45:
        text = "just now" if not future else "in a moment"
        return text
    if delta < 3600:
        amount = f"{round(delta / 60)} min"
    elif delta < 86400 * 2:
        amount = f"{round(delta / 3600)} h"
    else:
        amount = f"{round(delta / 86400)} days"
    return f"in {amount}" if future else f"{amount} ago"


@register.filter
def ago(value) -> str:
    """A <time> element: "3 min ago", the absolute UTC time on hover."""
    moment = to_datetime(value)
    if moment is None:
        return mark_safe('<span class="muted">never</span>')
    absolute = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.astimezone(UTC).isoformat(),
        absolute,
        relative(moment),
    )


def utc_text(moment: datetime, now: datetime | None = None) -> str:
    """ "06:41 UTC" today, "2026-04-20 06:41 UTC" on another day."""
    moment = moment.astimezone(UTC)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    pattern = "%H:%M UTC" if moment.date() == now.date() else "%Y-%m-%d %H:%M UTC"
    return moment.strftime(pattern)


@register.filter
def utc(value) -> str:
    """The absolute time as plain text, for a title attribute."""
    moment = to_datetime(value)
    return utc_text(moment) if moment is not None else "unknown"


@register.filter
def as_of(value) -> str:
    """A <time> element with the absolute time ("06:41 UTC"), which the page's script leaves
    as it is (class "abs"): "as of 3 min ago" would drift from the facts it dates."""
    moment = to_datetime(value)
    if moment is None:
        return mark_safe('<span class="muted">unknown</span>')
    return format_html(
        '<time class="abs" datetime="{}" title="{}">{}</time>',
        moment.astimezone(UTC).isoformat(),
        moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        utc_text(moment),
    )


@register.filter
def get(mapping, key):
    if mapping is None:
        return None
    return mapping.get(key)
