"""Stream entry payloads: a tick frame survives Arrow IPC exactly; foreign bytes are refused."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.streams.codec import CodecError, decode_ticks, encode_ticks


def test_a_tick_frame_comes_back_with_its_types_nulls_and_every_bit() -> None:
    ticks = pl.DataFrame({
        "ts": [1767621600000, 1767621600001],
        "symbol": ["/ES", "$TICK"],
        "price": [6000.25, -0.1 + 0.2],  # 0.10000000000000002: not a value CSV would round-trip
        "volume": [3, None],
        "row": [7, 8],
        "extra": ["dropped", "dropped"],
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    back = decode_ticks(encode_ticks(ticks))
    assert back.columns == ["ts", "symbol", "price", "volume", "row"]
    assert back.schema["ts"] == pl.Datetime("ms", "UTC") and back["volume"].to_list() == [3, None]
    assert [p.hex() for p in back["price"]] == [p.hex() for p in ticks["price"]]


@pytest.mark.parametrize("payload", [b"", b"not arrow at all", encode_ticks(pl.DataFrame({"price": [1.0]}))])
def test_anything_else_is_a_codec_error_naming_what_is_wrong(payload: bytes) -> None:
    with pytest.raises(CodecError, match="Arrow IPC|lacks column"):
        decode_ticks(payload)


def test_entries_of_polars_own_ipc_writer_and_reader_interoperate() -> None:
    """A rolling upgrade mixes versions: polars' IPC bytes decode, and ours read in polars."""
    import io

    ticks = pl.DataFrame({
        "ts": [1767621600000, 1767621600001], "symbol": ["/ES", "$TICK"], "price": [6000.25, 1.5],
        "volume": [3, None], "row": [7, 8],
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    buf = io.BytesIO()
    ticks.write_ipc(buf, compression="uncompressed")
    assert decode_ticks(buf.getvalue()).equals(ticks)
    assert pl.read_ipc(io.BytesIO(encode_ticks(ticks))).equals(ticks)


def test_entries_joined_before_conversion_equal_polars_diagonal_concat() -> None:
    """A runner joins a read's entries in Arrow; entries with and without quote columns mix."""
    from tradeassist_runner.streams.codec import decode_table, tables_to_frame

    plain = pl.DataFrame({"ts": [1, 2], "symbol": ["A", "B"], "price": [1.0, 2.0], "volume": [1, None], "row": [1, 2]})
    quoted = pl.DataFrame({"ts": [3], "symbol": ["A"], "price": [1.5], "volume": [2], "bid": [1.4], "ask": [1.6],
                           "row": [3]})
    frames = [f.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))) for f in (plain, quoted, plain)]
    joined = tables_to_frame([decode_table(encode_ticks(f)) for f in frames])
    assert joined.equals(pl.concat(frames, how="diagonal_relaxed").select(joined.columns))
    assert set(joined.columns) == {"ts", "symbol", "price", "volume", "bid", "ask", "row"}


def _entries_a_take_per_shard(table: object, codes: object, rows: object) -> list[tuple[int, object, int, int]]:
    """What :func:`shard_entries` shortcuts: a take of each shard's rows, shard by shard."""
    import numpy as np

    from tradeassist_runner.streams.codec import decode_table, encode_table

    assert isinstance(codes, np.ndarray) and isinstance(rows, np.ndarray)
    out = []
    for shard in sorted({int(c) for c in codes if c >= 0}):
        picked = np.flatnonzero(codes == shard)
        out.append((shard, decode_table(encode_table(table.take(picked))),  # type: ignore[attr-defined]
                    int(rows[picked].min()), int(rows[picked].max())))
    return out


@given(st.lists(st.tuples(st.integers(-1, 4), st.sampled_from(["/ES", "$TICK", "AAPL"]),
                          st.one_of(st.none(), st.integers(0, 10**6)), st.integers(0, 10**9)),
                min_size=1, max_size=60),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_one_take_and_a_slice_per_shard_equal_a_take_per_shard(
    ticks: list[tuple[int, str, int | None, int]], quoted: bool,
) -> None:
    """The ingest cuts a batch into shard entries with one take; each entry decodes to
    exactly the rows (in order), types, nulls and tick-number range of a take per shard."""
    import numpy as np

    from tradeassist_runner.streams.codec import decode_table, shard_entries, tick_table

    frame = pl.DataFrame({
        "ts": [1767621600000 + i for i in range(len(ticks))], "symbol": [t[1] for t in ticks],
        "price": [0.1 * i for i in range(len(ticks))], "volume": [t[2] for t in ticks],
        "row": [t[3] for t in ticks],
    }, schema_overrides={"volume": pl.Int64}).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    if quoted:
        frame = frame.with_columns(bid=pl.col("price") - 0.5, ask=pl.lit(None, pl.Float64))
    codes = np.array([t[0] for t in ticks], dtype=np.int64)
    rows = frame["row"].to_numpy()
    table = tick_table(frame)
    got = [(e.shard, decode_table(e.payload), e.first, e.last) for e in shard_entries(table, codes, rows)]
    want = _entries_a_take_per_shard(table, codes, rows)
    assert [(s, f, last) for s, _, f, last in got] == [(s, f, last) for s, _, f, last in want]
    for (_, mine, _, _), (_, theirs, _, _) in zip(got, want):
        assert mine.schema == theirs.schema and mine.equals(theirs)
        assert pl.from_arrow(mine).equals(pl.from_arrow(theirs))  # type: ignore[union-attr]


@given(st.lists(st.lists(st.tuples(st.integers(1, 40), st.booleans(), st.booleans()), min_size=1, max_size=3),
                min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_a_reads_shards_converted_together_equal_each_converted_alone(
    groups: list[list[tuple[int, bool, bool]]],
) -> None:
    """A runner converts the fresh entries of all its shards in a read at once and slices
    each shard's frame out; each equals that shard's own conversion, also where entries
    differ (quote columns in some, an int volume column all null in another)."""
    from tradeassist_runner.streams.codec import decode_table, tables_to_frame, tables_to_frames

    def entry(height: int, quoted: bool, null_volume: bool, start: int) -> object:
        frame = pl.DataFrame({
            "ts": [1767621600000 + start + i for i in range(height)], "symbol": ["/ES", "AAPL"] * (height // 2)
            + ["/ES"] * (height % 2), "price": [0.1 * (start + i) for i in range(height)],
            "volume": [None if null_volume else i for i in range(height)], "row": [start + i for i in range(height)],
        }, schema_overrides={"volume": pl.Int64}).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
        if quoted:
            frame = frame.with_columns(bid=pl.col("price") - 0.5, ask=pl.col("price") + 0.5)
        return decode_table(encode_ticks(frame))

    start = 0
    tables = []
    for group in groups:
        tables.append([])
        for height, quoted, null_volume in group:
            tables[-1].append(entry(height, quoted, null_volume, start))
            start += height
    got = tables_to_frames(tables)
    want = [tables_to_frame(group) for group in tables]
    assert len(got) == len(want)
    for mine, theirs, group in zip(got, want, tables):
        assert mine.schema == theirs.schema and mine.equals(theirs)
        # and each shard's own conversion (a plain join where schemas agree) is polars' diagonal concat
        reference = pl.concat([pl.from_arrow(t) for t in group], how="diagonal_relaxed")  # type: ignore[misc]
        assert theirs.equals(reference.select(theirs.columns)) and set(theirs.columns) == set(reference.columns)
