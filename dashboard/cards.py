"""The overview's host card, rendered in Python.

A thousand cards through Django's template engine took ~300 ms of the overview's time; the
same markup from this function takes a small fraction of that (docs/benchmarks.md). Keep the
markup here in step with the classes in static/proxmon/proxmon.css.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboard.templatetags.proxmon import ago, as_of, bytes_, clean, duration, pct, reason

MAX_REASONS = 4


def render(card) -> SafeString:
    name = escape(card.host.name)
    level = card.level
    parts = [
        f'<article class="card level-{level}" id="host-{name}" data-host="{name}" '
        f'data-level="{level}"><header>'
        f'<span class="light light-{level}" role="img" aria-label="{level}"></span>'
        f'<a class="name" href="{reverse("host", args=[card.host.name])}">{name}</a>'
        f"{_bell(getattr(card, 'firing', 0))}"
        f'<span class="muted seen">{ago(card.host.last_seen_at)}</span></header>'
    ]
    _reasons(parts, card.verdict.reasons)
    as_of_time = card.verdict.as_of
    if as_of_time is not None:
        # Offline: what it said last, dimmed, numbers included (DESIGN.md, status rules).
        parts.append(
            f'<div class="last-known"><p class="as-of">last known, as of {as_of(as_of_time)}</p>'
        )
        _reasons(parts, card.verdict.last_known)
    _numbers(parts, card)
    if as_of_time is not None:
        parts.append("</div>")
    parts.append("</article>")
    return mark_safe("".join(parts))


def _reasons(parts: list[str], reasons) -> None:
    if reasons:
        parts.append('<ul class="reasons">')
        for r in reasons[:MAX_REASONS]:
            parts.append(f'<li class="reason-{r.level}">{escape(reason(r.text))}</li>')
        if len(reasons) > MAX_REASONS:
            parts.append(f'<li class="muted">and {len(reasons) - MAX_REASONS} more</li>')
        parts.append("</ul>")


def _numbers(parts: list[str], card) -> None:
    metrics = card.metrics
    if metrics:
        mem = metrics.get("mem") or {}
        guests = card.guests
        parts.append(
            '<dl class="stats">'
            f"<div><dt>CPU</dt><dd>{pct(metrics.get('cpu_percent'))}</dd></div>"
            f'<div><dt>RAM</dt><dd title="{bytes_(mem.get("used"))} of '
            f'{bytes_(mem.get("total"))}">{pct(card.mem_pct)}</dd></div>'
            f"<div><dt>Up</dt><dd>{duration(metrics.get('uptime_s'))}</dd></div>"
            f"<div><dt>Guests</dt><dd>{guests.get('running') or 0}/{guests.get('total') or 0}"
            "</dd></div></dl>"
        )
    if card.pools:
        levels = card.verdict.pool_levels
        parts.append('<p class="pools">')
        for pool in card.pools:
            level = levels.get(pool.get("name"), "ok")
            parts.append(
                f'<span class="pool pool-{level}" title="{escape(clean(pool.get("health")))}, '
                f'{bytes_(pool.get("allocated"))} of {bytes_(pool.get("size"))}">'
                f"{escape(clean(pool.get('name')))} {pct(pool.get('capacity_pct'))}</span>"
            )
        parts.append("</p>")


# A bell drawn, not an emoji: a browser without a colour emoji font showed an empty box.
BELL = (
    '<svg class="bell-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">'
    '<path fill="currentColor" d="M8 1.5a4.5 4.5 0 0 0-4.5 4.5v3L2 11.5v1h12v-1L12.5 9V6'
    'A4.5 4.5 0 0 0 8 1.5zM6.3 13.5a1.8 1.8 0 0 0 3.4 0z"/></svg>'
)


def _bell(firing: int) -> str:
    """The mark of a host with alerts firing (set on the card by the overview view)."""
    if not firing:
        return ""
    noun = "alert" if firing == 1 else "alerts"
    words = f"{firing} {noun} firing"
    return f'<span class="bell" title="{words}" aria-label="{words}">{BELL}{firing}</span>'
