"""A runner's fresh ticks of the entries it read: the shortcuts for entries past everything
evaluated give exactly what filtering every entry by its tick numbers gives."""

from __future__ import annotations

from typing import Any, cast

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradeassist_runner.service.sharded import Shard, fresh_ticks
from tradeassist_runner.sources.ticks import ROW
from tradeassist_runner.streams.codec import decode_table, encode_ticks

Entry = tuple[bytes, dict[bytes, bytes]]


def _shard(last_id: str, last_row: int) -> Shard:
    # only the position fields are read by fresh_ticks: engine, gate and store stay unset
    unset = cast(Any, None)
    return Shard(0, "s", unset, unset, unset, {}, last_id=last_id, committed_id=last_id, last_row=last_row)


def _entry(entry_id: str, rows: list[int], ranged: bool) -> Entry:
    ticks = pl.DataFrame({
        "ts": [1767621600000 + r for r in rows], "symbol": ["/ES"] * len(rows), "price": [float(r) for r in rows],
        ROW: rows,
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    fields = {b"d": encode_ticks(ticks)}
    if ranged:  # as the ingest writes them; an entry without them is filtered tick by tick
        fields[b"f"], fields[b"l"] = str(min(rows)).encode(), str(max(rows)).encode()
    return entry_id.encode(), fields


def _general(unit: Shard, entries: list[Entry]) -> list[pa.Table]:
    """Every entry after the last one evaluated, decoded and filtered by tick number."""
    out: list[pa.Table] = []
    for entry_id, fields in entries:
        text = entry_id.decode()
        seq = tuple(int(x) for x in text.split("-"))
        if seq <= tuple(int(x) for x in unit.last_id.split("-")):
            unit.unacked.append(entry_id)
            continue
        table = decode_table(fields[b"d"])
        table = table.filter(pc.greater(table[ROW], unit.last_row))
        if table.num_rows:
            unit.last_row = int(pc.max(table[ROW]).as_py())
            out.append(table)
        unit.last_id = text
        unit.unacked.append(entry_id)
        unit.dirty = True
    return out


_rows = st.lists(st.integers(1, 12), min_size=1, max_size=5)  # few values: boundaries meet often


@settings(max_examples=150, deadline=None)
@given(
    start=st.tuples(st.integers(0, 4), st.integers(0, 10)),
    steps=st.lists(st.tuples(st.integers(-1, 2), _rows, st.booleans()), min_size=1, max_size=8),
)
@example(start=(0, 1), steps=[(0, [1, 2], True)])  # the entry starts at the last tick evaluated
@example(start=(0, 3), steps=[(0, [4, 2], True), (1, [5], True)])  # an entry out of tick order
def test_fresh_ticks_equal_filtering_every_entry(start: tuple[int, int], steps: list[tuple[int, list[int], bool]]) -> None:
    last_ms, last_row = start
    entries: list[Entry] = []
    ms = last_ms + 1
    for move, rows, ranged in steps:  # ids mostly ascending; a step back is a re-delivery
        ms = max(0, ms + move)
        entries.append(_entry(f"{ms}-0", rows, ranged))
    fast, slow = _shard(f"{last_ms}-0", last_row), _shard(f"{last_ms}-0", last_row)
    got, want = fresh_ticks(fast, entries), _general(slow, entries)
    assert [t.to_pydict() for t in got] == [t.to_pydict() for t in want]
    assert (fast.last_id, fast.last_row, fast.unacked, fast.dirty) == (slow.last_id, slow.last_row, slow.unacked, slow.dirty)
