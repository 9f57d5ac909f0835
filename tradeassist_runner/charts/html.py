"""The interactive chart: one self-contained HTML file (plotly), readable with no network.

plotly's own ``plotly.min.js`` from the installed package is written into the file
(``include_plotlyjs=True``), and nothing else is referenced: the file opens from a CI
artifact, an e-mail or an air-gapped desk the same way.  Hovering a marker shows the
alert (rule, time, value against threshold, cooldown, ``for`` run, message, id); the
legend toggles a rule's lines, markers and shading together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import I64
from .model import Figure, Level, Line, Markers, Panel, Windows

#: Height of the price panel and of each value panel, in CSS pixels.
PRICE_HEIGHT = 460
PANEL_HEIGHT = 170


def _iso(t: I64) -> list[str]:
    return [str(s) for s in np.datetime_as_string(np.asarray(t, np.int64).astype("datetime64[ms]"), unit="ms")]


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _span(figure: Figure) -> tuple[int, int] | None:
    if figure.span is not None:
        return figure.span
    times = [ln.t for p in figure.panels for ln in p.lines if len(ln.t)]
    times += [m.t for p in figure.panels for m in p.markers if len(m.t)]
    times += [p.candles.start for p in figure.panels if p.candles is not None and len(p.candles)]
    if not times:
        return None
    every = np.concatenate(times)
    return int(every.min()), int(every.max())


def _line(go: Any, line: Line) -> Any:
    y = [None if not np.isfinite(v) else float(v) for v in line.y.tolist()]
    return go.Scatter(
        x=_iso(line.t), y=y, mode="lines", name=line.name, legendgroup=line.group or line.name,
        line={"color": line.color, "width": 1.2 if not line.dash else 1.0, "dash": "dash" if line.dash else "solid"},
        hoverinfo="skip", connectgaps=False,  # hover is the alerts': a line under a marker would take it
    )


def _level(go: Any, level: Level, span: tuple[int, int]) -> Any:
    return go.Scatter(
        x=_iso(np.asarray(span, np.int64)), y=[level.y, level.y], mode="lines", name=level.name,
        legendgroup=level.group or level.name,
        line={"color": level.color, "width": 1.0, "dash": "dot" if level.dotted else "dashdot"},
        hoverinfo="skip",
    )


def _markers(go: Any, markers: Markers, uid: str) -> Any:
    symbol = ("triangle-up" if markers.up else "triangle-down") + ("-open" if markers.hollow else "")
    y = [None if not np.isfinite(v) else float(v) for v in markers.y.tolist()]
    return go.Scatter(
        x=_iso(markers.t), y=y, mode="markers", name=markers.name, legendgroup=markers.group or markers.name,
        marker={"symbol": symbol, "size": 11 if markers.role == "alerts" else 8, "color": markers.color,
                "line": {"width": 1.5 if markers.hollow else 0.5,
                         "color": markers.color if markers.hollow else "#ffffff"}},
        text=markers.hover, hovertemplate="%{text}<extra></extra>", uid=uid,
        meta={"role": markers.role, "count": len(markers.t)},
    )


def _windows(go: Any, windows: Windows, low: float, high: float) -> Any:
    xs: list[str | None] = []
    ys: list[float | None] = []
    for s, e in zip(_iso(windows.start), _iso(windows.end)):
        xs += [s, s, e, e, s, None]
        ys += [low, high, high, low, low, None]
    return go.Scatter(
        x=xs, y=ys, mode="lines", fill="toself", fillcolor=_rgba(windows.color, 0.07),
        line={"width": 0, "color": _rgba(windows.color, 0.0)}, name=windows.name,
        legendgroup=windows.group or windows.name, hoveron="fills", hoverinfo="name",
        meta={"role": "windows", "count": len(windows.start)},
    )


def _panel_traces(go: Any, panel: Panel, span: tuple[int, int] | None, row: int, uids: list[int]) -> list[Any]:
    traces: list[Any] = []
    extent = panel.extent()
    if extent is not None:
        for w in panel.windows:
            traces.append(_windows(go, w, *extent))
    if panel.candles is not None and len(panel.candles):
        c = panel.candles
        traces.append(go.Candlestick(
            x=_iso(c.start), open=c.open, high=c.high, low=c.low, close=c.close,
            name="candles", legendgroup="candles", increasing_line_color="#26a69a", decreasing_line_color="#ef5350",
            opacity=0.55, xperiod=c.width_ms, xperiodalignment="start",
        ))
    traces += [_line(go, ln) for ln in panel.lines]
    if span is not None:
        traces += [_level(go, lv, span) for lv in panel.levels]
    for m in panel.markers:
        uids[0] += 1
        traces.append(_markers(go, m, f"{m.role}-{row}-{uids[0]}"))
    return traces


def render_html(figure: Figure) -> str:
    """The whole HTML document (plotly.js inlined)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = len(figure.panels)
    heights = [PRICE_HEIGHT] + [PANEL_HEIGHT] * (rows - 1)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=min(0.06, 0.25 / max(rows, 1)),
        row_heights=heights, subplot_titles=[p.title for p in figure.panels],
    )
    span = _span(figure)
    uids = [0]
    placed: list[tuple[int, Any]] = []
    for row, panel in enumerate(figure.panels, start=1):
        placed += [(row, trace) for trace in _panel_traces(go, panel, span, row, uids)]
    # One legend entry per rule: its alert markers (else its first line); clicking it
    # toggles the rule's lines, levels, markers and shading together.
    legend_of: dict[str, Any] = {}
    for row, trace in placed:
        role = (trace.meta or {}).get("role") if isinstance(trace.meta, dict) else None
        if role == "values" or (row > 1 and trace.legendgroup == trace.name):
            continue
        current = legend_of.get(trace.legendgroup)
        if current is None or (role == "alerts" and (current.meta or {}).get("role") != "alerts"):
            legend_of[trace.legendgroup] = trace
    chosen = {id(t) for t in legend_of.values()}
    for row, trace in placed:
        trace.showlegend = id(trace) in chosen
        fig.add_trace(trace, row=row, col=1)
    for row, panel in enumerate(figure.panels, start=1):
        fig.update_yaxes(title_text=panel.axis_title, row=row, col=1)
        if panel.value_range is not None:
            fig.update_yaxes(range=list(panel.value_range), row=row, col=1)
    subtitle = "<br>".join(f"<span style='font-size:12px'>{n}</span>" for n in figure.notes)
    fig.update_layout(
        template="plotly_white", height=sum(heights) + 110 + 22 * len(figure.notes), hovermode="closest",
        title={"text": figure.title + ("<br>" + subtitle if subtitle else ""), "x": 0.01},
        legend={"groupclick": "togglegroup"}, margin={"t": 70 + 22 * len(figure.notes), "l": 70, "r": 20, "b": 40},
    )
    fig.update_xaxes(rangeslider_visible=False, showspikes=True, spikemode="across", spikethickness=1)
    if span is not None:
        pad = max((span[1] - span[0]) // 50, 500)
        fig.update_xaxes(range=_iso(np.asarray([span[0] - pad, span[1] + pad], np.int64)))
    html: str = fig.to_html(
        include_plotlyjs=True, full_html=True, include_mathjax=False,
        config={"displaylogo": False, "responsive": True, "scrollZoom": True},
        div_id="tradeassist-chart",
    )
    return html
