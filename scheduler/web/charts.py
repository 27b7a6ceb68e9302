"""Server-rendered SVG charts: no JavaScript library, no CDN, and readable by screen readers.

Each chart carries a <title> and a <desc> stating its numbers; the page shows the same numbers
in a table as well, since a long <desc> is tiresome to listen to.
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

from scheduler.i18n import gettext as _
from scheduler.i18n import number

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34


@dataclass(frozen=True)
class Bar:
    """One week: the label under it, the hours attended (the bar) and the target (the line)."""

    label: str
    value: Decimal
    target: Decimal | None = None


def hours_text(value) -> str:
    """Hours as the pages print them: 9, 7.5, 2.25 (registered as the `hours_text` filter)."""
    if value is None:
        return _("none")
    # As the language writes it: 7.5 in English, 7,5 in Spanish.
    return number(Decimal(value).quantize(Decimal("0.01")))


def _nice_top(largest: float) -> float:
    """A multiple of four just above the largest value, so the four gridlines fall on whole
    hours (a 9 h target gives an axis of 0, 3, 6, 9, 12)."""
    return float(max(4, 4 * math.ceil(largest / 4)))


def hours_chart(bars: list[Bar], title: str, chart_id: str,
                value_label: str | None = None) -> Markup:
    """Bars of hours per week with the weekly target drawn as a stepped line."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    value_label = value_label or _("attended")
    desc = "; ".join(
        f"{bar.label}: {hours_text(bar.value)} h {value_label}"
        + (", " + _("target %(hours)s h", hours=hours_text(bar.target))
           if bar.target is not None else "")
        for bar in bars
    ) or _("No weeks to show.")
    largest = max([float(b.value) for b in bars]
                  + [float(b.target) for b in bars if b.target is not None] + [1.0])
    top = _nice_top(largest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)

    def y(value) -> float:
        return TOP + plot_h - float(value) / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'font-family="system-ui, sans-serif" '
        f'aria-labelledby="{title_id} {desc_id}" class="hours-chart" id="{escape(chart_id)}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]
    # Four gridlines with their hour labels.
    for i in range(5):
        value = top * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#d5dbe3" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#4a5563">{number(value)}</text>')
    for n, bar in enumerate(bars):
        x = LEFT + n * slot
        # Few weeks would make slabs of bars; keep them bar-shaped.
        bar_w = min(slot * 0.7, 48)
        height = float(bar.value) / top * plot_h
        met = bar.target is not None and bar.value >= bar.target
        colour = "#2e7d4f" if met or bar.target is None else "#c26a1a"
        parts.append(
            f'<rect class="bar" x="{x + (slot - bar_w) / 2:.1f}" y="{y(bar.value):.1f}" '
            f'width="{bar_w:.1f}" height="{height:.1f}" fill="{colour}">'
            f'<title>{escape(bar.label)}: {hours_text(bar.value)} h</title></rect>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                     f'text-anchor="middle" font-size="11" fill="#4a5563">'
                     f'{escape(bar.label)}</text>')
        if bar.target is not None:
            parts.append(
                f'<line class="target" x1="{x:.1f}" x2="{x + slot:.1f}" y1="{y(bar.target):.1f}" '
                f'y2="{y(bar.target):.1f}" stroke="#12263f" stroke-width="2" '
                f'stroke-dasharray="6 3"/>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
                 f'y2="{TOP + plot_h}" stroke="#4a5563"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
