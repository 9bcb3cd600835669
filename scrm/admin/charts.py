"""Server-side SVG charts drawn from a `Figure`: line, bar, stacked columns, funnel, histogram and interval bars.

Each returns Markup: a <figure> holding an SVG (role="img" with a <title>), an HTML legend when there are
several series, and the numbers as a visually hidden table. No JavaScript, nothing from a CDN. The caller
passes a figure whose title, columns and x labels are already translated; every label is escaped here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext
from markupsafe import Markup, escape

from scrm.admin.charts_axes import (
    FONT,
    INK,
    INK_2,
    LINE,
    MUTED,
    WIDTH,
    colour,
    empty,
    fmt,
    frame,
    nice_ticks,
    num,
    short,
    text,
)
from scrm.services.analytics_common import Figure

Href = Callable[[int, list[Any]], str | None]


def _y_axis(ticks: list[float], left: float, right: float, y_of: Callable[[float], float]) -> str:
    out = []
    for t in ticks:
        y = y_of(t)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{LINE}"/>')
        out.append(text(left - 6, y + 4, fmt(t), anchor="end", size=11, fill=MUTED))
    return "".join(out)


def _x_label(value: Any) -> str:
    raw = str(value)
    return raw[5:] if len(raw) == 10 and raw[4] == "-" and raw[7] == "-" else short(raw, 8)


def _has_data(fig: Figure, cols: range) -> bool:
    return any(num(r[c]) for r in fig.rows for c in cols if c < len(r))


def line(fig: Figure, empty_text: str, width: float = WIDTH) -> Markup:
    """Several series over x (days): lines with y ticks, a few x labels and a legend (`width`: wider cards)."""
    series = range(1, len(fig.columns))
    if not _has_data(fig, series):
        return empty(fig, empty_text)
    left, right, top, bottom, height = 46.0, width - 12.0, 10.0, 196.0, 220.0
    values = [num(r[c]) or 0.0 for r in fig.rows for c in series]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    lo, hi = ticks[0], ticks[-1]

    def y_of(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    n = len(fig.rows)

    def x_of(i: int) -> float:
        return (left + right) / 2 if n == 1 else left + i * (right - left) / (n - 1)

    parts = [_y_axis(ticks, left, right, y_of)]
    step = max(1, -(-n // (6 if width <= WIDTH else 12)))
    for i in range(0, n, step):
        parts.append(text(x_of(i), height - 6, _x_label(fig.rows[i][0]), anchor="middle", size=11, fill=MUTED))
    for k, c in enumerate(series):
        pts = " ".join(f"{x_of(i):.1f},{y_of(num(r[c]) or 0.0):.1f}" for i, r in enumerate(fig.rows))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour(k)}" stroke-width="2" '
                     f'stroke-linejoin="round" stroke-linecap="round"/>')
        if n <= 31:
            parts.extend(f'<circle cx="{x_of(i):.1f}" cy="{y_of(num(r[c]) or 0.0):.1f}" r="2.2" fill="{colour(k)}"/>'
                         for i, r in enumerate(fig.rows))
    return frame(fig, height, "".join(parts), kind="line", names=fig.columns[1:], width=width)


def bar(fig: Figure, empty_text: str, column: int = 1) -> Markup:
    """Horizontal bars of one column with the label on the left and the value at the bar's end."""
    if not _has_data(fig, range(column, column + 1)):
        return empty(fig, empty_text)
    row_h, label_w, right = 26.0, 112.0, WIDTH - 52.0
    peak = max(num(r[column]) or 0.0 for r in fig.rows) or 1.0
    parts = []
    for i, r in enumerate(fig.rows):
        y = 6 + i * row_h
        v = num(r[column]) or 0.0
        w = max(0.0, v / peak * (right - label_w))
        parts.append(f'<g><title>{escape(r[0])}: {escape(fmt(v))}</title>'
                     + text(label_w - 8, y + 15, short(r[0], 8), anchor="end", fill=INK)
                     + f'<rect x="{label_w}" y="{y + 3:.1f}" width="{w:.1f}" height="{row_h - 8:.1f}" rx="3" '
                       f'fill="{colour(0)}"/>'
                     + text(label_w + w + 6, y + 15, fmt(v), fill=INK_2) + "</g>")
    return frame(fig, 8 + len(fig.rows) * row_h, "".join(parts), kind="bar")


def stacked(fig: Figure, empty_text: str) -> Markup:
    """Stacked columns: one column per x, one segment per series, with a legend."""
    series = range(1, len(fig.columns))
    if not _has_data(fig, series):
        return empty(fig, empty_text)
    left, right, top, bottom, height = 46.0, WIDTH - 12.0, 10.0, 196.0, 220.0
    totals = [sum(max(0.0, num(r[c]) or 0.0) for c in series) for r in fig.rows]
    ticks = nice_ticks(0.0, max(totals))
    hi = ticks[-1]

    def y_of(v: float) -> float:
        return bottom - v / hi * (bottom - top)

    n = len(fig.rows)
    slot = (right - left) / n
    bw = max(1.0, slot * 0.7)
    parts = [_y_axis(ticks, left, right, y_of)]
    step = max(1, -(-n // 6))
    for i, r in enumerate(fig.rows):
        x, acc = left + i * slot + (slot - bw) / 2, 0.0
        for k, c in enumerate(series):
            v = max(0.0, num(r[c]) or 0.0)
            if v:
                parts.append(f'<rect x="{x:.1f}" y="{y_of(acc + v):.1f}" width="{bw:.1f}" '
                             f'height="{y_of(acc) - y_of(acc + v):.1f}" fill="{colour(k)}">'
                             f"<title>{escape(r[0])} · {escape(fig.columns[c])}: {escape(fmt(v))}</title></rect>")
            acc += v
        if i % step == 0:
            parts.append(text(x + bw / 2, height - 6, _x_label(r[0]), anchor="middle", size=11, fill=MUTED))
    return frame(fig, height, "".join(parts), kind="stacked", names=fig.columns[1:])


def funnel(fig: Figure, empty_text: str) -> Markup:
    """Steps as centred bars with their counts, and the step-to-step conversion between them."""
    if not fig.rows or not num(fig.rows[0][1]):
        return empty(fig, empty_text)
    row_h, label_w, right = 44.0, 92.0, WIDTH - 8.0
    first = num(fig.rows[0][1]) or 1.0
    mid, span = (label_w + right) / 2, right - label_w
    parts, prev = [], None
    for i, r in enumerate(fig.rows):
        y = 4 + i * row_h
        v = num(r[1]) or 0.0
        w = max(2.0, v / first * span)
        parts.append(text(label_w - 8, y + 27, short(r[0], 7), anchor="end", fill=INK))
        parts.append(f'<rect x="{mid - w / 2:.1f}" y="{y + 12:.1f}" width="{w:.1f}" height="24" rx="3" '
                     f'fill="{colour(0)}" fill-opacity="{1 - i * 0.12:.2f}"><title>{escape(r[0])}: {escape(fmt(v))}'
                     f"</title></rect>")
        parts.append(text(mid, y + 28, fmt(v), anchor="middle", fill="#ffffff" if w > 60 else INK, weight="600"))
        if prev is not None:   # a step can outgrow the one before (walk-in visits without a booking)
            rate = (f"↓ {v / prev * 100:.1f}%" if v <= prev else
                    gettext("%(pct)s of follows", pct=f"{v / first * 100:.1f}%")) if prev else "↓ —"
            parts.append(text(mid, y + 8, rate, anchor="middle", size=11, fill=MUTED))
        prev = v
    return frame(fig, 8 + len(fig.rows) * row_h, "".join(parts), kind="funnel")


def histogram(fig: Figure, empty_text: str, href: Href | None = None,
              colour_of: Callable[[int], str] | None = None) -> Markup:
    """Adjacent columns per bucket with counts on top; `href(i, row)` makes a bucket a link."""
    if not _has_data(fig, range(1, 2)):
        return empty(fig, empty_text)
    left, right, top, bottom, height = 46.0, WIDTH - 8.0, 18.0, 190.0, 214.0
    ticks = nice_ticks(0.0, max(num(r[1]) or 0.0 for r in fig.rows))
    hi = ticks[-1]

    def y_of(v: float) -> float:
        return bottom - v / hi * (bottom - top)

    slot = (right - left) / len(fig.rows)
    parts = [_y_axis(ticks, left, right, y_of)]
    for i, r in enumerate(fig.rows):
        v, x = num(r[1]) or 0.0, left + i * slot
        fill = colour_of(i) if colour_of else colour(0)
        bucket = (f'<rect x="{x + 1:.1f}" y="{y_of(v):.1f}" width="{slot - 2:.1f}" height="{bottom - y_of(v):.1f}" '
                  f'fill="{fill}"/><rect x="{x:.1f}" y="{top:.1f}" width="{slot:.1f}" height="{bottom - top:.1f}" '
                  f'fill="transparent"/>'
                  + text(x + slot / 2, y_of(v) - 4, fmt(v), anchor="middle", size=10, fill=INK_2)
                  + text(x + slot / 2, height - 8, r[0], anchor="middle", size=10, fill=MUTED))
        label = f"{r[0]}: {fmt(v)}"
        link = href(i, r) if href else None
        if link:
            parts.append(f'<a href="{escape(link)}" class="chart-link" aria-label="{escape(label)}">'
                         f"<title>{escape(label)}</title>{bucket}</a>")
        else:
            parts.append(f"<g><title>{escape(label)}</title>{bucket}</g>")
    return frame(fig, height, "".join(parts), kind="hist")


def interval(fig: Figure, empty_text: str, label: Callable[[list[Any]], str] | None = None,
             point: int = 5, low: int = 6, high: int = 7, unit: str = "pp", width: float = WIDTH) -> Markup:
    """One row per estimate: a point with its confidence interval whisker around a zero line."""
    rows = [r for r in fig.rows if len(r) > high and None not in (num(r[point]), num(r[low]), num(r[high]))]
    if not rows:
        return empty(fig, empty_text)
    row_h, label_w, right, top = 30.0, 124.0 if width <= WIDTH else 200.0, width - 14.0, 18.0
    values = [v for r in rows for v in (num(r[low]) or 0.0, num(r[high]) or 0.0)]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 4)
    lo, hi = ticks[0], ticks[-1]

    def x_of(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * (right - label_w)

    height = top + len(rows) * row_h + 8
    parts = [text(x_of(t), 12, f"{fmt(t)}", anchor="middle", size=10, fill=MUTED) for t in ticks]
    parts += [f'<line x1="{x_of(t):.1f}" x2="{x_of(t):.1f}" y1="{top}" y2="{height - 4:.1f}" stroke="{LINE}"/>'
              for t in ticks]
    parts.append(f'<line x1="{x_of(0):.1f}" x2="{x_of(0):.1f}" y1="{top}" y2="{height - 4:.1f}" stroke="{INK}" '
                 f'stroke-width="1.2"/>')
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2
        p, a, b = num(r[point]) or 0.0, num(r[low]) or 0.0, num(r[high]) or 0.0
        c = colour(1) if a > 0 else colour(3) if b < 0 else colour(0)
        name = label(r) if label else str(r[0])
        parts.append(f"<g><title>{escape(name)}: {escape(fmt(p))} {unit} ({escape(fmt(a))} – {escape(fmt(b))})</title>"
                     + text(label_w - 8, y + 4, short(name, 9 if width <= WIDTH else 16), anchor="end", fill=INK)
                     + f'<line x1="{x_of(a):.1f}" x2="{x_of(b):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{c}" '
                       f'stroke-width="2"/>'
                     + "".join(f'<line x1="{x_of(e):.1f}" x2="{x_of(e):.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" '
                               f'stroke="{c}" stroke-width="2"/>' for e in (a, b))
                     + f'<circle cx="{x_of(p):.1f}" cy="{y:.1f}" r="4.5" fill="{c}"/></g>')
    return frame(fig, height, "".join(parts), kind="interval", width=width)


def render(fig: Figure, empty_text: str, href: Href | None = None) -> Markup:
    """The chart for the figure's kind (a table figure gets no chart: the page draws it as a table)."""
    if fig.kind == "line":
        return line(fig, empty_text)
    if fig.kind == "bar":
        return bar(fig, empty_text)
    if fig.kind == "stacked":
        return stacked(fig, empty_text)
    if fig.kind == "funnel":
        return funnel(fig, empty_text)
    if fig.kind == "hist":
        return histogram(fig, empty_text, href)
    return Markup("")


__all__ = ["FONT", "bar", "funnel", "histogram", "interval", "line", "render", "stacked"]
