"""Per-rule summary of a backtest: what a reviewer of a rule change wants at a glance."""

from __future__ import annotations

import polars as pl

from .rules.catalog import bodies

from .config.loaded import LoadedConfig
from .timefmt import iso_ms


class RuleSummary:
    """Fired count, first and last time per rule, including rules that never fired."""

    #: The alert columns :meth:`add` reads.
    COLUMNS = ("rule_id", "ts")

    def __init__(self, loaded: LoadedConfig) -> None:
        self._rules = [r.rule for r in loaded.rules]
        self._parts: list[pl.DataFrame] = []

    def add(self, alerts: pl.DataFrame) -> None:
        self._parts.append(
            alerts.group_by("rule_id").agg(
                pl.len().alias("fired"), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
            )
        )
        if len(self._parts) >= 32:  # fold, so a 10M-tick backtest keeps one row per rule, not per batch
            self._parts = [self._folded()]

    def _folded(self) -> pl.DataFrame:
        return (
            pl.concat(self._parts)
            .group_by("rule_id")
            .agg(pl.col("fired").sum(), pl.col("first").min(), pl.col("last").max())
        )

    def table(self) -> pl.DataFrame:
        order = pl.DataFrame(
            {
                "rule_id": [r.id for r in self._rules],
                "symbol": [r.instrument for r in self._rules],
                "type": [r.type for r in self._rules],
                "condition": [bodies(r)[0].condition if r.type != "all" else "all" for r in self._rules],
                "active": [r.active for r in self._rules],
            }
        )
        if self._parts:
            fired = self._folded()
        else:
            fired = pl.DataFrame(
                schema={"rule_id": pl.String, "fired": pl.UInt32, "first": pl.Datetime("ms", "UTC"), "last": pl.Datetime("ms", "UTC")}
            )
        return order.join(fired, on="rule_id", how="left", maintain_order="left").with_columns(
            pl.col("fired").fill_null(0)
        )

    def render(self) -> str:
        df = self.table()
        header = ["rule_id", "symbol", "type", "condition", "fired", "first", "last"]
        rows = [
            [
                r["rule_id"] + ("" if r["active"] else " (inactive)"),
                r["symbol"],
                r["type"],
                r["condition"],
                str(r["fired"]),
                iso_ms(r["first"]) if r["first"] is not None else "-",
                iso_ms(r["last"]) if r["last"] is not None else "-",
            ]
            for r in df.iter_rows(named=True)
        ]
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        total = int(df["fired"].sum()) if df.height else 0
        lines.append(f"{total} alerts from {sum(1 for r in rows if r[4] != '0')} of {len(rows)} rules")
        return "\n".join(lines)
