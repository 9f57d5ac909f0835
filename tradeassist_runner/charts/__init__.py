"""Charts of a backtest or a diff (``--chart FILE.html|FILE.png``), the ``[charts]`` extra.

    backtest ticks ─► record.py (the engine's samples and each type's values, as pixel
                     columns: columns.py) + the alerts ─► model.py (panels, from the rule
                     types' chart hooks) ─► html.py (plotly, self-contained) | png.py (Agg)

draw.py runs it for the CLI; selection.py reads ``--symbol``/``--rule``; output.py checks
and writes the file.  plotly and matplotlib are imported only when a chart is drawn.
"""
