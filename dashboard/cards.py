"""The overview's host cards, rendered from dashboard/_card.html and kept per process by stamp.

A thousand cards through the template engine cost ~0.45 ms each (docs/benchmarks.md), and
between two requests most of a fleet's cards do not change. Each card is rendered again only
when its stamp (fleet.Card.stamp: a digest of everything it shows) or the day changed (a time
"as of" another day shows its date). Relative times ("3 min ago") are <time> elements the
page's script keeps current, so a card rendered a while ago still reads right.
"""

from __future__ import annotations

from datetime import date

from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

# host id -> (stamp and day, the card's HTML)
_rendered: dict[int, tuple[str, SafeString]] = {}


def render(cards, today: date) -> None:
    """Set each card's `html`, from the cache where its stamp is the same."""
    template = get_template("dashboard/_card.html")
    for card in cards:
        key = f"{card.stamp}/{today}"
        cached = _rendered.get(card.host.pk)
        if cached is None or cached[0] != key:
            cached = (key, mark_safe(template.render({"card": card})))
            _rendered[card.host.pk] = cached
        card.html = cached[1]


def forget(host_ids) -> None:
    """Drop the cards of hosts that are gone."""
    for pk in host_ids:
        _rendered.pop(pk, None)
