"""Tick frames <-> Arrow IPC bytes, the payload of one stream entry.

Arrow IPC keeps every column's exact type (millisecond UTC timestamps, nullable
int64 volumes, float64 bit for bit), so a runner evaluates exactly the frame the
ingest read, and decoding is a memory copy rather than a parse.

Both directions go through pyarrow's IPC file reader and writer rather than
``polars.read_ipc``/``write_ipc``: those plan and run a lazy query per call, which on
an entry of a few hundred ticks costs three to four times the copy itself, once per
entry at the ingest and again at the runner. The bytes are the same Arrow IPC file
format either way, so entries written by one reader's version are read by the other.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs: its objects are Any here only
import pyarrow.ipc as ipc  # type: ignore[import-untyped]

from ..sources.ticks import ROW, TICK_SCHEMA

__all__ = [
    "CodecError", "ShardEntry", "decode_table", "decode_ticks", "encode_table", "encode_ticks", "shard_entries",
    "tables_to_frame", "tables_to_frames", "tick_table",
]


class CodecError(ValueError):
    """An entry whose payload is not a tick frame this version writes."""


def tick_table(ticks: pl.DataFrame) -> pa.Table:
    """The canonical tick columns present in ``ticks`` plus ``row`` (the ingest's tick number),
    as an Arrow table: column by column, which skips the query a ``select`` would plan."""
    keep = [c for c in (*TICK_SCHEMA, ROW) if c in ticks.columns]
    return pa.table({c: ticks.get_column(c).to_arrow() for c in keep})


def encode_table(table: pa.Table) -> bytes:
    """A :func:`tick_table` (or rows taken from one) as the bytes of one entry.

    The writer is built with default options rather than by ``ipc.new_file``, which reads
    the environment for a legacy format on every call: a tenth of a small entry's encoding.
    """
    sink = pa.BufferOutputStream()
    with ipc.RecordBatchFileWriter(sink, table.schema, options=ipc.IpcWriteOptions()) as writer:
        writer.write_table(table)
    return cast(bytes, sink.getvalue().to_pybytes())


class ShardEntry(NamedTuple):
    """One shard's part of a batch: its ticks as entry bytes and their first and last tick number."""

    shard: int
    payload: bytes
    first: int
    last: int


def shard_entries(table: pa.Table, codes: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> list[ShardEntry]:
    """A batch's :func:`tick_table` cut into one entry per shard, shards in ascending order.

    ``codes`` is each tick's shard (negative: no shard, left out), ``rows`` its tick number.
    Within a shard the ticks keep their order in ``table``. The rows are put in shard order
    by one take and each shard's entry is a slice of that: a take per shard costs a
    compute-function dispatch each, as much as the rest of an entry's encoding.
    """
    order = np.argsort(codes, kind="stable")  # by shard, arrival order kept within each
    by_shard = codes[order]
    starts = np.flatnonzero(np.diff(by_shard)) + 1
    bounds = [0, *starts.tolist(), len(order)]
    keep = [(int(by_shard[a]), a, b) for a, b in zip(bounds, bounds[1:]) if b > a and by_shard[a] >= 0]
    if not keep:
        return []
    sorted_rows = rows[order]
    taken = table.take(order)
    return [
        ShardEntry(shard, encode_table(taken.slice(a, b - a)), int(sorted_rows[a:b].min()), int(sorted_rows[a:b].max()))
        for shard, a, b in keep
    ]


def encode_ticks(ticks: pl.DataFrame) -> bytes:
    return encode_table(tick_table(ticks))


def decode_table(payload: bytes) -> pa.Table:
    """The entry as an Arrow table, for a runner that joins several entries before
    converting once (the conversion to polars has a fixed cost per call)."""
    try:
        # the reader class itself, as the writer above: ``ipc.open_file`` wraps it in option
        # handling that costs as much as reading an entry of a few dozen ticks
        table = ipc.RecordBatchFileReader(pa.py_buffer(payload)).read_all()
    except Exception as exc:  # noqa: BLE001 - whatever arrow says about foreign bytes
        raise CodecError(f"not an Arrow IPC tick frame ({type(exc).__name__}: {exc})") from None
    # ``table.column_names`` builds a new list on every access: once per name was two
    # thirds of decoding a small entry
    names = set(table.schema.names)
    missing = [c for c in ("ts", "symbol", "price", ROW) if c not in names]
    if missing:
        raise CodecError(f"tick frame lacks column(s) {', '.join(missing)}")
    return table


def tables_to_frame(tables: list[pa.Table]) -> pl.DataFrame:
    """Decoded entries, in order, as one frame; a column some entries lack is null there."""
    if len(tables) == 1:
        return cast(pl.DataFrame, pl.from_arrow(tables[0]))
    same = all(t.schema == tables[0].schema for t in tables[1:])
    try:
        # "permissive" unifies schemas first, five times the join itself when they are equal
        joined = pa.concat_tables(tables) if same else pa.concat_tables(tables, promote_options="permissive")
        return cast(pl.DataFrame, pl.from_arrow(joined))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):  # types arrow will not unify
        frames = [cast(pl.DataFrame, pl.from_arrow(t)) for t in tables]
        return pl.concat(frames, how="diagonal_relaxed")


def tables_to_frames(groups: list[list[pa.Table]]) -> list[pl.DataFrame]:
    """:func:`tables_to_frame` of each group (a runner's shards in one read), in one conversion.

    The conversion to polars costs about as much for a few rows as for a thousand, once per
    call: when every table has the same columns and types (entries of one ingest), all
    groups are joined and converted once and each group's frame is a slice of that. Tables
    that differ are converted group by group, where a column a group lacks stays absent.
    """
    flat = [t for group in groups for t in group]
    if len(groups) < 2 or any(not group for group in groups) or any(t.schema != flat[0].schema for t in flat[1:]):
        return [tables_to_frame(group) for group in groups]
    joined = cast(pl.DataFrame, pl.from_arrow(pa.concat_tables(flat)))
    frames: list[pl.DataFrame] = []
    start = 0
    for group in groups:
        height = sum(t.num_rows for t in group)
        frames.append(joined.slice(start, height))
        start += height
    return frames


def decode_ticks(payload: bytes) -> pl.DataFrame:
    return tables_to_frame([decode_table(payload)])
