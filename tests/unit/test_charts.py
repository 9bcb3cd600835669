"""The SVG charts: each kind is valid XML with an accessible title, labels are escaped, empty and all-zero
figures are handled, and tick values are nice."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

import pytest

from scrm.admin import charts
from scrm.admin.charts_axes import nice_ticks
from scrm.services.analytics_common import Figure

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>&'


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own output


def _svg(markup: str) -> ET.Element:
    root = _parse(markup)
    svg = root.find(f"{SVG}svg")
    assert svg is not None, markup[:200]
    assert svg.get("role") == "img" and svg.get("aria-label")
    assert svg.find(f"{SVG}title") is not None
    return svg


def _days(n: int) -> list[date]:
    return [date(2026, 3, 1) + timedelta(days=i) for i in range(n)]


FIGS: dict[str, tuple[Figure, Any]] = {
    "line": (Figure("f", "Followers", "line", ["Day", "New", EVIL],
                    [[d, i, i * 2] for i, d in enumerate(_days(30))]), charts.line),
    "bar": (Figure("b", "By scene", "bar", ["Source", "New"], [[EVIL, 5], ["员工二维码很长的名字啊", 12]]), charts.bar),
    "stacked": (Figure("s", "Bookings", "stacked", ["Day", "maintenance", EVIL],
                       [[d, 2, 3] for d in _days(10)]), charts.stacked),
    "funnel": (Figure("u", "Funnel", "funnel", ["Step", "Followers", "Share"],
                      [["Follow", 100, 100], ["Bound", 40, 40], [EVIL, 10, 10]]), charts.funnel),
    "hist": (Figure("h", "Churn", "hist", ["Score", "Customers"],
                    [[f"{i * 10}-{i * 10 + 9}" if i else EVIL, i + 1] for i in range(10)]),
             charts.histogram),
}


@pytest.mark.parametrize("kind", list(FIGS))
def test_each_kind_is_valid_svg_and_escapes(kind: str) -> None:
    fig, fn = FIGS[kind]
    out = fn(fig, "empty")
    svg = _svg(out)
    assert EVIL not in str(out) and "&lt;script&gt;" in str(out)
    assert len(list(svg.iter())) > 5
    table = _parse(out).find("table")
    assert table is not None and table.get("class") == "sr-only"
    assert len(table.findall("./tbody/tr")) == len(fig.rows)


def test_line_has_one_polyline_per_series_and_a_legend() -> None:
    fig, _ = FIGS["line"]
    out = charts.line(fig, "empty")
    assert len(list(_svg(out).iter(f"{SVG}polyline"))) == 2
    legend = _parse(out).find("ul")
    assert legend is not None and ["".join(li.itertext()) for li in legend.findall("li")] == ["New", EVIL]


def test_bar_values_are_labelled() -> None:
    fig, _ = FIGS["bar"]
    texts = [t.text for t in _svg(charts.bar(fig, "empty")).iter(f"{SVG}text")]
    assert "12" in texts and "5" in texts
    assert "员工二维码很长…" in texts     # long labels are cut; the full one stays in the table


def test_funnel_shows_step_conversion() -> None:
    fig, _ = FIGS["funnel"]
    texts = [t.text for t in _svg(charts.funnel(fig, "empty")).iter(f"{SVG}text")]
    assert "↓ 40.0%" in texts and "↓ 25.0%" in texts


def test_funnel_step_larger_than_the_one_before_shows_its_share_of_follows() -> None:
    fig = Figure("funnel", "Funnel", "funnel", ["Step", "Followers", "Share"],
                 [["Follow", 200, 100.0], ["Booked", 10, 5.0], ["Visited", 25, 12.5]])
    texts = [t.text for t in _svg(charts.funnel(fig, "empty")).iter(f"{SVG}text")]
    assert "↓ 5.0%" in texts and "12.5% of follows" in texts and not any("250" in (x or "") for x in texts)


def test_histogram_buckets_link() -> None:
    fig, _ = FIGS["hist"]
    out = charts.histogram(fig, "empty", href=lambda i, r: f"/churn?min={i * 10}&max={i * 10 + 9}")
    links = list(_svg(out).iter(f"{SVG}a"))
    assert len(links) == 10 and links[7].get("href") == "/churn?min=70&max=79"


def test_interval_draws_point_and_whisker_and_skips_holdout() -> None:
    fig = Figure("c", "Lift", "table", ["Campaign", "Variant", "N", "Conv", "Rate", "Lift", "Lo", "Hi"],
                 [["春季保养", "holdout", 100, 5, 5.0, "—", None, None],
                  ["春季保养", "A", 900, 90, 10.0, 5.0, 1.2, 8.8],
                  [EVIL, "B", 900, 40, 4.4, -0.6, -4.0, 2.8]])
    out = charts.interval(fig, "empty", label=lambda r: f"{r[0]} · {r[1]}")
    svg = _svg(out)
    assert len(list(svg.iter(f"{SVG}circle"))) == 2
    assert EVIL not in str(out)


@pytest.mark.parametrize("kind", list(FIGS))
def test_empty_and_all_zero_figures_show_the_empty_text(kind: str) -> None:
    fig, fn = FIGS[kind]
    empty = Figure(fig.key, fig.title, fig.kind, fig.columns, [])
    zero = Figure(fig.key, fig.title, fig.kind, fig.columns, [[r[0], *([0] * (len(r) - 1))] for r in fig.rows])
    for f in (empty, zero):
        out = fn(f, "Nothing <yet>")
        root = _parse(out)
        assert root.find(f"{SVG}svg") is None
        assert "Nothing &lt;yet&gt;" in str(out)


def test_render_dispatches_by_kind() -> None:
    for kind, (fig, _) in FIGS.items():
        assert f"chart-{kind}" in str(charts.render(fig, "empty"))
    assert str(charts.render(Figure("t", "T", "table", ["a"], [[1]]), "empty")) == ""


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0, 97, [0, 20, 40, 60, 80, 100]),
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-3.2, 8.7, [-5, 0, 5, 10]),
    (0, 12345, [0, 5000, 10000, 15000]),
])
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks == expected
    step = ticks[1] - ticks[0]
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 5)
    assert ticks[0] <= lo and ticks[-1] >= hi
