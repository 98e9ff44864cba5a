"""Numbers with units and times an operator reads at a glance."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


@register.filter
def bytes_(value) -> str:
    """1536 → "1.5 KiB"; binary units like ZFS and Proxmox show them."""
    if value is None or value == "":
        return "–"
    size = float(value)
    for unit in UNITS:
        if abs(size) < 1024 or unit == UNITS[-1]:
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if abs(size) < 100 else f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.0f} {UNITS[-1]}"


@register.filter
def pct(value, digits: int = 0) -> str:
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f} %"


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
        return f"{days} d"
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


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


@register.filter
def get(mapping, key):
    if mapping is None:
        return None
    return mapping.get(key)
