"""What the SVG charts share: nice tick values, number formatting, the palette, the frame every chart sits
in (an accessible <figure> with the SVG, an HTML legend and a visually hidden data table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from scrm.services.analytics_common import Figure

# The admin palette (scrm/static/admin/admin.css): primary, green, amber, red, then quieter companions.
PALETTE = ("#1a5fd0", "#1a8f55", "#a86400", "#c6352b", "#7a4cc2", "#0f8a8a", "#7b8496", "#d07a1a")
INK, INK_2, MUTED, LINE = "#1d2433", "#4a5468", "#7b8496", "#e3e7ee"
WIDTH = 420          # the viewBox width: text stays readable when the chart is drawn 350px wide (a phone)
FONT = 12


def colour(i: int) -> str:
    """The i-th series colour."""
    return PALETTE[i % len(PALETTE)]


def num(value: Any) -> float | None:
    """A cell as a number (None for blanks, dashes and text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def _nice(x: float, rounding: bool) -> float:
    exp = math.floor(math.log10(x))
    frac = x / 10 ** exp
    if rounding:
        nice = 1 if frac < 1.5 else 2 if frac < 3 else 5 if frac < 7 else 10
    else:
        nice = 1 if frac <= 1 else 2 if frac <= 2 else 5 if frac <= 5 else 10
    return nice * 10 ** exp


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Tick values covering [lo, hi] at a step of 1, 2 or 5 × 10^n (at least two ticks)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1 if lo >= 0 else lo + abs(lo)
        if hi == lo:
            hi = lo + 1
    step = _nice(_nice(hi - lo, False) / max(1, count - 1), True)
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    n = round((end - start) / step)
    digits = max(0, -math.floor(math.log10(step)))
    return [round(start + i * step, digits) for i in range(n + 1)]


def fmt(value: float | None) -> str:
    """A number for a label: thousands separators, at most one decimal."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def short(label: Any, limit: int = 9) -> str:
    """A label cut to fit beside a bar (the full text stays in the table and the <title>)."""
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(x: float, y: float, body: Any, *, anchor: str = "start", size: int = FONT, fill: str = INK_2,
         weight: str = "normal") -> str:
    """An escaped SVG <text>."""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"'
            f'{" font-weight=" + chr(34) + weight + chr(34) if weight != "normal" else ""}>{escape(body)}</text>')


def _cell(value: Any) -> str:
    n = num(value)
    return fmt(n) if n is not None else "" if value is None else str(value)


def data_table(fig: Figure) -> str:
    """The figure's numbers as a visually hidden table (screen readers, copy and paste)."""
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in fig.columns)
    body = "".join("<tr>" + "".join(
        f'<th scope="row">{escape(v)}</th>' if i == 0 else f"<td>{escape(_cell(v))}</td>"
        for i, v in enumerate(row)) + "</tr>" for row in fig.rows)
    return (f'<table class="sr-only"><caption>{escape(fig.title)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def legend(names: Sequence[str]) -> str:
    """An HTML legend (wraps on a phone, unlike SVG text)."""
    items = "".join(f'<li><svg class="chart-swatch" viewBox="0 0 12 12" width="12" height="12">'
                    f'<rect width="12" height="12" rx="3" fill="{colour(i)}"/></svg>{escape(n)}</li>'
                    for i, n in enumerate(names))
    return f'<ul class="chart-legend" aria-hidden="true">{items}</ul>'


def frame(fig: Figure, height: float, body: str, *, kind: str, names: Sequence[str] = (),
          width: float = WIDTH) -> Markup:
    """The chart's <figure>: an SVG with role="img" and a <title>, an optional legend, the hidden table."""
    title = escape(fig.title)
    svg = (f'<svg class="chart-svg" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
           f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg" '
           f'preserveAspectRatio="xMidYMid meet"><title>{title}</title>{body}</svg>')
    return Markup(  # noqa: S704 - every label was escaped
        f'<figure class="chart chart-{kind}" data-key="{escape(fig.key)}">'
        f'{legend(names) if len(names) > 1 else ""}{svg}{data_table(fig)}</figure>')


def empty(fig: Figure, message: str) -> Markup:
    """What shows instead of a chart with no data."""
    return Markup(  # noqa: S704 - every label was escaped
        f'<figure class="chart chart-empty" data-key="{escape(fig.key)}"><p class="chart-empty-text">'
        f"{escape(message)}</p></figure>")
