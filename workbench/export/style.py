"""Figure styles: a paper style (serif, 8-10 pt, column widths, Okabe-Ito) and a screen style.

Plotly measures fonts and sizes in CSS pixels; Chromium prints them at 96 px per inch, so a
9 pt font is 12 px and a 3.35 in column is 321.6 px. The palette is Okabe & Ito (2008), "Color
Universal Design", safe for the common forms of colour blindness.

Example:
    >>> styled = apply_style(fig, style="paper", width="double")
    >>> styled.layout.width
    672
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio

from workbench.core.registry import suggest

PX_PER_INCH = 96
PX_PER_POINT = PX_PER_INCH / 72

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

COLUMN_WIDTH_INCHES = {"single": 3.35, "double": 7.0}
# Default height as a fraction of the width: a single column figure is nearly square-ish,
# a double column one is a wide strip, as journals lay them out.
DEFAULT_ASPECT = {"single": 0.75, "double": 0.42}

SERIF_FONTS = "Times New Roman, Liberation Serif, DejaVu Serif, serif"
SANS_FONTS = "Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"


@dataclass(frozen=True)
class FigureStyle:
    """Font, size and line settings of one named style."""

    font_family: str
    font_pt: float
    title_pt: float
    line_width_px: float  # axes and ticks
    trace_line_px: float
    base_template: str
    margin_px: tuple[int, int, int, int]  # left, right, top, bottom


STYLES = {
    "paper": FigureStyle(SERIF_FONTS, 9, 10, 0.75, 1.25, "simple_white", (48, 10, 28, 40)),
    "screen": FigureStyle(SANS_FONTS, 11, 13, 1.0, 2.0, "plotly_white", (60, 20, 40, 50)),
}
SCREEN_WIDTH_PX = {"single": 640, "double": 960}


def resolve_choice(kind: str, value: str, choices: dict) -> object:
    """Look a name up in `choices`, raising with the closest valid names on a miss."""
    if value in choices:
        return choices[value]
    raise ValueError(
        f"Unknown {kind} {value!r}; valid: {sorted(choices)}. {suggest(str(value), list(choices))}"
    )


def figure_size_px(style: str, width: str, height_in: float | None = None) -> tuple[int, int]:
    """Width and height in CSS pixels for a style and column width."""
    resolve_choice("style", style, STYLES)
    width_in = resolve_choice("width", width, COLUMN_WIDTH_INCHES)
    width_px = width_in * PX_PER_INCH if style == "paper" else SCREEN_WIDTH_PX[width]
    if height_in is not None:
        height_px = height_in * PX_PER_INCH * (width_px / (width_in * PX_PER_INCH))
    else:
        height_px = width_px * DEFAULT_ASPECT[width]
    return round(width_px), round(height_px)


def _template(spec: FigureStyle) -> go.layout.Template:
    """Base template plus trace defaults (thin lines, small markers) that user styling overrides."""
    template = go.layout.Template(pio.templates[spec.base_template])
    line = spec.trace_line_px
    template.data.scatter = [go.Scatter(line_width=line, marker_size=line * 3)]
    colorbar = {"thickness": 8 * line, "outlinewidth": spec.line_width_px}
    template.data.heatmap = [go.Heatmap(colorbar=colorbar)]
    return template


def apply_style(
    fig: go.Figure, style: str = "paper", width: str = "single", height_in: float | None = None
) -> go.Figure:
    """Return a styled copy of `fig` (the original is left untouched)."""
    spec = resolve_choice("style", style, STYLES)
    width_px, height_px = figure_size_px(style, width, height_in)
    out = go.Figure(fig)
    font_px = spec.font_pt * PX_PER_POINT
    left, right, top, bottom = spec.margin_px
    # Subplot titles are paper annotations above the plot area: they need the top margin too.
    has_title = bool(out.layout.title.text) or any(
        note.yref == "paper" and note.y is not None and note.y >= 1
        for note in out.layout.annotations
    )
    out.update_layout(
        template=_template(spec),
        width=width_px,
        height=height_px,
        colorway=list(OKABE_ITO),
        font={"family": spec.font_family, "size": font_px, "color": "black"},
        title_font_size=spec.title_pt * PX_PER_POINT,
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": left, "r": right, "t": top if has_title else 10, "b": bottom},
        legend_font_size=font_px * 0.9,
        colorscale_sequential="Viridis",
        colorscale_diverging="RdBu_r",
    )
    axis_style = {
        "linewidth": spec.line_width_px,
        "tickwidth": spec.line_width_px,
        "ticklen": 3,
        "showline": True,
        "mirror": False,
        "linecolor": "black",
        "zeroline": False,
    }
    out.update_xaxes(**axis_style)
    out.update_yaxes(**axis_style)
    return out


def plotly_text(text: str) -> str:
    """Make `text` (a token, a user label) display literally in plotly labels and hovers.

    plotly.js reads a subset of HTML in text (`<b>`, `<a href>`, `<br>`, ...) and decodes
    entities. Escaping turns every tag-like token into entities, which plotly shows as the
    original characters, so `<b>` stays the three characters `<b>`, not bold text.
    """
    return html.escape(str(text), quote=True)
