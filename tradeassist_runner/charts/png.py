"""The static chart: a PNG drawn by matplotlib's Agg canvas, with no browser and no display.

The same panels as the HTML chart (``model.py``); what hover says there, the legend and
the shading say here: markers per rule, each threshold and re-arm level labelled,
cooldowns and ``for`` runs shaded.  Only ``matplotlib.figure`` and the Agg canvas are
used, never ``pyplot``, so no global figure state and no GUI backend is touched.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .columns import F64, I64
from .model import Figure, Panel

#: Width in pixels, and the heights of the price panel and of each value panel.
WIDTH = 1600
PRICE_HEIGHT = 520
PANEL_HEIGHT = 190
DPI = 100
_DAY_MS = 86_400_000.0


def _days(t: I64, offset: float) -> F64:
    """Epoch ms as matplotlib date numbers."""
    return np.asarray(t, np.float64) / _DAY_MS + offset


def _rgba(color: str, alpha: float) -> tuple[float, float, float, float]:
    r, g, b = (int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
    return (r, g, b, alpha)


def _draw_panel(ax: Any, panel: Panel, offset: float, span: tuple[int, int] | None) -> None:
    from matplotlib.collections import PolyCollection

    for w in panel.windows:
        s, e = _days(w.start, offset), _days(w.end, offset)
        verts = [[(a, 0.0), (a, 1.0), (b, 1.0), (b, 0.0)] for a, b in zip(s.tolist(), e.tolist())]
        ax.add_collection(PolyCollection(verts, transform=ax.get_xaxis_transform(), facecolors=[_rgba(w.color, 0.10)],
                                         edgecolors="none", zorder=0))
    if panel.candles is not None and len(panel.candles):
        c = panel.candles
        width = c.width_ms / _DAY_MS
        x = _days(c.start, offset) + width / 2
        up = c.close >= c.open
        colors = np.where(up, "#26a69a", "#ef5350")
        ax.vlines(x, c.low, c.high, colors=colors, linewidth=0.8, zorder=2, alpha=0.6)
        body = np.abs(c.close - c.open)
        ax.bar(x, np.maximum(body, (c.high - c.low) * 0.02 + 1e-12), bottom=np.minimum(c.open, c.close),
               width=width * 0.7, color=colors, zorder=2, label="candles", alpha=0.55)
    for ln in panel.lines:
        ax.plot(_days(ln.t, offset), ln.y, color=ln.color, linewidth=1.0 if not ln.dash else 0.9,
                linestyle="--" if ln.dash else "-", label=ln.name, zorder=3)
    for lv in panel.levels:
        ax.axhline(lv.y, color=lv.color, linewidth=0.9, linestyle=":" if lv.dotted else "-.", label=lv.name, zorder=3)
    for m in panel.markers:
        marker = "^" if m.up else "v"
        size = 46 if m.role == "alerts" else 26
        if m.hollow:
            ax.scatter(_days(m.t, offset), m.y, marker=marker, s=size, facecolors="none", edgecolors=m.color,
                       linewidths=1.2, label=m.name if m.role == "alerts" else None, zorder=5)
        else:
            ax.scatter(_days(m.t, offset), m.y, marker=marker, s=size, color=m.color, edgecolors="white",
                       linewidths=0.4, label=m.name if m.role == "alerts" else None, zorder=5)
    if panel.value_range is not None:
        ax.set_ylim(*panel.value_range)
    if span is not None:
        pad = max((span[1] - span[0]) // 50, 500)
        ax.set_xlim(float(_days(np.asarray([span[0] - pad]), offset)[0]), float(_days(np.asarray([span[1] + pad]), offset)[0]))
    ax.set_title(panel.title, loc="left", fontsize=10)
    ax.set_ylabel(panel.axis_title, fontsize=9)
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False,
                  borderaxespad=0.0)


def render_png(figure: Figure) -> bytes:
    """The chart as PNG bytes."""
    import matplotlib.dates

    mdates: Any = matplotlib.dates  # partly unannotated
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    rows = max(len(figure.panels), 1)
    heights = [PRICE_HEIGHT] + [PANEL_HEIGHT] * (rows - 1)
    header = 70 + 16 * len(figure.notes)
    total = sum(heights) + header + 40
    fig = MplFigure(figsize=(WIDTH / DPI, total / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, 1, height_ratios=heights, left=0.06, right=0.78, top=1 - header / total,
                            bottom=40 / total, hspace=0.45)
    offset = float(mdates.date2num(np.datetime64(0, "ms")))
    first = None
    for row, panel in enumerate(figure.panels):
        ax = fig.add_subplot(grid[row, 0], sharex=first)
        first = first or ax
        _draw_panel(ax, panel, offset, figure.span)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(labelsize=8)
    fig.text(0.01, 1 - 12 / total, figure.title, fontsize=13, va="top", ha="left")
    if figure.notes:
        fig.text(0.01, 1 - 38 / total, "\n".join(figure.notes), fontsize=8.5, va="top", ha="left", color="#555555",
                 linespacing=1.5)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
