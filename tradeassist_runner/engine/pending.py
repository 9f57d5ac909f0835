"""A batch's alert frame, its numbers gathered but its text not yet written.

Writing the text of a backtest batch's alerts (ids, messages, ``inputs`` JSON) is one
polars query over numbers the engine has already gathered.  Run where the frame is
wanted rather than where the batch was evaluated, it can run on an output thread while
the engine evaluates the next batch on the other core (polars releases the GIL), and a
consumer that reads only some columns (a per-rule summary) has only those built.

Collected, it is the very frame the engine returns directly: the same input columns,
the same query, the same Python fix-ups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from ..rules.seam import I64
from .alerts import TS

#: The Python fix-up of a built frame (messages written per row from the whole row).
Finish = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class RowsQuery:
    """One ``select`` of alert rows: ``columns`` (numbers and the few texts written in
    Python), the per-rule ``table`` gathered by ``rule`` beside them, the ``text``
    columns several outputs of ``query`` read (added in turn, each stage reading the
    ones before), then ``query`` itself with the batch's ``evaluated_at`` (a literal,
    whose making costs a query of its own: made where the frame is), then ``finish``."""

    columns: dict[str, Any]
    table: pl.DataFrame
    rule: I64
    text: Sequence[dict[str, pl.Expr]]
    query: dict[str, pl.Expr]
    evaluated_at: datetime
    finish: Finish | None = None

    def _source(self) -> pl.DataFrame:
        return pl.DataFrame(self.columns).hstack(self.table[self.rule])

    def _query(self) -> dict[str, pl.Expr]:
        # (replacing a key keeps its place: the columns stay in ALERT_SCHEMA's order)
        return {**self.query, "evaluated_at": pl.lit(self.evaluated_at, TS)}

    def frame(self) -> pl.DataFrame:
        frame = self._source()
        for stage in self.text:
            frame = frame.with_columns(**stage)
        frame = frame.select(**self._query())
        return frame if self.finish is None else self.finish(frame)

    def some(self, names: Sequence[str]) -> pl.DataFrame:
        """Only the columns ``names``: the lazy query prunes the text no one reads."""
        if self.finish is not None and "message" in names:
            return self.frame().select(names)  # (the fix-up reads whole rows)
        lazy = self._source().lazy()
        for stage in self.text:
            lazy = lazy.with_columns(**stage)
        return lazy.select(**self._query()).select(names).collect()


class PendingAlerts:
    """The alerts of one batch (ALERT_SCHEMA, firing order): a built frame, or a query
    that builds it.  :meth:`collect` keeps what it built, so a second call is free."""

    def __init__(self, rows: pl.DataFrame | RowsQuery, height: int) -> None:
        self._rows = rows
        self.height = height

    @classmethod
    def ready(cls, frame: pl.DataFrame) -> PendingAlerts:
        return cls(frame, frame.height)

    def collect(self) -> pl.DataFrame:
        if isinstance(self._rows, RowsQuery):
            self._rows = self._rows.frame()  # (the numbers are let go once the frame is built)
        return self._rows

    def select(self, names: Sequence[str]) -> pl.DataFrame:
        """Only the columns ``names`` of :meth:`collect`'s frame, building no more than those."""
        if isinstance(self._rows, RowsQuery):
            return self._rows.some(names)
        return self._rows.select(names)
