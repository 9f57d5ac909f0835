"""Tick hygiene (docs/semantics.md, "Ticks"): bad rows are counted with their row numbers, never fatal."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradeassist_runner.sources import ticks as ticks_module
from tradeassist_runner.sources.ticks import (
    TICK_SCHEMA,
    Rejection,
    TickGate,
    empty_ticks,
    format_rejections,
    normalize,
)

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
T0_MS = 1_767_623_400_000


def raw(rows: list[tuple[str | None, ...]], columns: tuple[str, ...] = ("ts", "symbol", "price", "volume")) -> pl.DataFrame:
    """A frame as a CSV read gives it: every cell text (or null)."""
    return pl.DataFrame(
        [list(r) for r in rows], schema={c: pl.String for c in columns}, orient="row"
    )


def ticks(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    """Normalized ticks from (symbol, epoch ms, price)."""
    good, bad = normalize(raw([(str(ms), s, str(p), "1") for s, ms, p in rows]))
    assert bad == []
    return good


def reasons(rejections: list[Rejection]) -> dict[int, str]:
    return {r.row: r.reason for r in rejections}


# --------------------------------------------------------------------------- normalize


def test_output_has_the_canonical_schema_with_absent_quote_columns_as_null() -> None:
    good, bad = normalize(raw([("2026-01-05T14:30:00.125Z", "/ES", "6000.25", "3")]))
    assert bad == []
    assert dict(good.drop("row").schema) == TICK_SCHEMA
    assert good.row(0, named=True) == {
        "ts": datetime(2026, 1, 5, 14, 30, 0, 125000, tzinfo=timezone.utc),
        "symbol": "/ES",
        "price": 6000.25,
        "volume": 3,
        "bid": None,
        "ask": None,
        "bid_size": None,
        "ask_size": None,
        "row": 1,
    }


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-05T14:30:00.000Z",
        "2026-01-05T14:30:00Z",
        "2026-01-05T14:30:00+00:00",
        "2026-01-05T14:30:00.000+0000",
        "2026-01-05T15:30:00+01:00",
        "2026-01-05 14:30:00Z",
        "2026-01-05T14:30:00",  # naive times are UTC, as everywhere in the runner
        "1767623400000",
        " 1767623400000 ",
    ],
)
def test_accepted_timestamp_spellings(text: str) -> None:
    good, bad = normalize(raw([(text, "/ES", "1", "1")]))
    assert bad == []
    assert good["ts"].to_list() == [T0]


def test_sub_millisecond_digits_are_floored() -> None:
    good, _ = normalize(raw([("2026-01-05T14:30:00.1239Z", "/ES", "1", "1")]))
    assert good["ts"].dt.epoch("ms").to_list() == [T0_MS + 123]


def test_every_kind_of_bad_row_is_rejected_with_its_row_number_and_reason() -> None:
    frame = raw(
        [
            ("2026-01-05T14:30:00Z", "/ES", "6000", "1"),  # 1 ok
            ("2026-01-05T14:30:01Z", "/ES", None, "1"),  # 2 missing price
            ("2026-01-05T14:30:02Z", "/ES", "abc", "1"),  # 3
            ("2026-01-05T14:30:03Z", "/ES", "inf", "1"),  # 4
            ("2026-01-05T14:30:04Z", "/ES", "nan", "1"),  # 5
            ("2026-01-05T14:30:05Z", "/ES", "6000", "-5"),  # 6 negative volume
            ("2026-01-05T14:30:06Z", "/ES", "6000", "1.5"),  # 7 non-integer volume
            ("yesterday", "/ES", "6000", "1"),  # 8 bad ts
            ("", "/ES", "6000", "1"),  # 9 missing ts
            ("2026-13-45T99:00:00Z", "/ES", "6000", "1"),  # 10 impossible date
            ("2026-01-05T14:30:07Z", "", "6000", "1"),  # 11 no symbol
            ("2026-01-05T14:30:08Z", "/ES", "6000", ""),  # 12 ok: volume may be empty
            ("2026-01-05T14:30:09Z", "/ES", "-1.5", "0"),  # 13 ok: prices may be negative
        ]
    )
    good, bad = normalize(frame)
    assert good["row"].to_list() == [1, 12, 13]
    assert good["volume"].to_list() == [1, None, 0]
    assert reasons(bad) == {
        2: "price is missing",
        3: "price 'abc' is not a number",
        4: "price 'inf' is not finite",
        5: "price 'nan' is not finite",
        6: "volume '-5' is negative",
        7: "volume '1.5' is not a whole number",
        8: "ts 'yesterday' is not an ISO-8601 time or epoch milliseconds",
        9: "ts is missing",
        10: "ts '2026-13-45T99:00:00Z' is not an ISO-8601 time or epoch milliseconds",
        11: "symbol is missing",
    }


def test_a_row_with_several_problems_names_them_all_in_column_order() -> None:
    _, bad = normalize(raw([("x", "/ES", "abc", "-1")]))
    assert [str(r) for r in bad] == [
        "row 1: ts 'x' is not an ISO-8601 time or epoch milliseconds; "
        "price 'abc' is not a number; volume '-1' is negative"
    ]


@pytest.mark.parametrize("padded", [" /ES", "/ES ", "\t/ES\r", "  /ES  "])
def test_symbols_are_trimmed_and_a_blank_one_is_missing(padded: str) -> None:
    """A clean symbol column is left as it is; one padded or blank cell among clean ones
    is still trimmed, or rejected, like every other cell."""
    good, bad = normalize(raw([("1", "/ES", "1", "1"), ("2", padded, "2", "1"), ("3", "   ", "3", "1"),
                               ("4", "/NQ", "4", "1")]))
    assert good["symbol"].to_list() == ["/ES", "/ES", "/NQ"]
    assert reasons(bad) == {3: "symbol is missing"}
    clean, none = normalize(raw([("1", "/ES", "1", "1"), ("2", "/NQ", "2", "1"), ("3", None, "3", "1")]))
    assert clean["symbol"].to_list() == ["/ES", "/NQ"]
    assert reasons(none) == {3: "symbol is missing"}


def test_long_cells_are_cut_short_in_the_reason() -> None:
    _, bad = normalize(raw([("1", "/ES", "x" * 500, "1")]))
    assert len(bad[0].reason) < 80
    assert bad[0].reason.endswith("...' is not a number")


def test_first_row_numbers_rows_across_chunks() -> None:
    good, bad = normalize(raw([("1", "/ES", "1", "1"), ("2", "/ES", "bad", "1")]), first_row=1001)
    assert good["row"].to_list() == [1001]
    assert [r.row for r in bad] == [1002]


def test_optional_quote_columns_are_parsed_and_validated() -> None:
    cols = ("ts", "symbol", "price", "volume", "bid", "ask", "bid_size", "ask_size")
    good, bad = normalize(
        raw(
            [
                ("1", "/ES", "10", "1", "9.75", "10.25", "3", "4"),
                ("2", "/ES", "10", "1", "", None, "", None),
                ("3", "/ES", "10", "1", "x", "10", "1", "-2"),
            ],
            cols,
        )
    )
    assert good.drop("row").rows() == [
        (datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc), "/ES", 10.0, 1, 9.75, 10.25, 3, 4),
        (datetime(1970, 1, 1, 0, 0, 0, 2000, tzinfo=timezone.utc), "/ES", 10.0, 1, None, None, None, None),
    ]
    assert reasons(bad) == {3: "bid 'x' is not a number; ask_size '-2' is negative"}


def test_native_parquet_types_are_converted() -> None:
    frame = pl.DataFrame(
        {
            "ts": pl.Series([T0.replace(tzinfo=None)] * 3, dtype=pl.Datetime("ns")).dt.replace_time_zone(
                "UTC"
            ).dt.convert_time_zone("America/New_York"),
            "symbol": pl.Series(["/ES", "/NQ", "/ES"], dtype=pl.Categorical),
            "price": [1.0, float("inf"), 3.0],
            "volume": [2.0, 1.0, float("nan")],  # pandas' integer column with a gap
        }
    )
    good, bad = normalize(frame)
    assert good["ts"].dtype == pl.Datetime("ms", "UTC")
    assert good["ts"].to_list() == [T0, T0]
    assert good["symbol"].to_list() == ["/ES", "/ES"]
    assert good["volume"].to_list() == [2, None]
    assert reasons(bad) == {2: "price 'inf' is not finite"}


def test_native_integer_epoch_ms_and_negative_integer_volume() -> None:
    frame = pl.DataFrame({"ts": [T0_MS, T0_MS + 1], "symbol": ["/ES", "/ES"], "price": [1, 2], "volume": [1, -1]})
    good, bad = normalize(frame)
    assert good["ts"].to_list() == [T0]
    assert good["price"].dtype == pl.Float64
    assert reasons(bad) == {2: "volume '-1' is negative"}


def test_empty_input_gives_an_empty_canonical_frame() -> None:
    good, bad = normalize(raw([]))
    assert good.height == 0 and bad == []
    assert dict(empty_ticks().schema) == TICK_SCHEMA


cell = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["1", "-1", "1.5", "inf", "-inf", "nan", "1e308", "1e400", "2026-01-05T14:30:00Z", "99999999999999999999"]),
)


@given(st.lists(st.tuples(cell, cell, cell, cell), max_size=30), st.integers(1, 10**6))
def test_arbitrary_text_never_crashes_and_every_row_is_accounted_for(
    rows: list[tuple[str | None, ...]], first_row: int
) -> None:
    good, bad = normalize(raw(rows), first_row=first_row)
    numbers = good["row"].to_list() + [r.row for r in bad]
    assert sorted(numbers) == list(range(first_row, first_row + len(rows)))
    assert good.select(pl.col("price").is_finite().all()).item() in (True, None)
    assert good["ts"].null_count() == 0
    assert all(r.reason for r in bad)


# --------------------------------------------------------------------------- the gate


def test_gate_rejects_a_tick_older_than_the_last_accepted_tick_of_its_symbol() -> None:
    gate = TickGate(["/ES", "/NQ"])
    batch = ticks([("/ES", 10, 1.0), ("/NQ", 5, 2.0), ("/ES", 9, 3.0), ("/ES", 10, 4.0), ("/NQ", 5, 5.0)])
    result = gate.admit(batch)
    assert result.accepted["price"].to_list() == [1.0, 2.0, 4.0, 5.0]  # equal ts is fine
    assert [str(r) for r in result.rejections] == [
        "row 3: ts 1970-01-01T00:00:00.009Z is earlier than the previous accepted /ES tick "
        "(1970-01-01T00:00:00.010Z)"
    ]
    assert list(result.accepted.columns) == list(TICK_SCHEMA)


def test_gate_state_carries_across_batches() -> None:
    gate = TickGate(["/ES"])
    gate.admit(ticks([("/ES", 100, 1.0)]))
    result = gate.admit(ticks([("/ES", 99, 2.0), ("/ES", 100, 3.0)]))
    assert result.accepted["price"].to_list() == [3.0]
    assert [r.row for r in result.rejections] == [1]


def test_a_rejected_tick_does_not_move_the_high_water_mark() -> None:
    gate = TickGate(["/ES"])
    result = gate.admit(ticks([("/ES", 50, 1.0), ("/ES", 10, 2.0), ("/ES", 20, 3.0), ("/ES", 60, 4.0)]))
    assert result.accepted["price"].to_list() == [1.0, 4.0]
    assert [r.row for r in result.rejections] == [2, 3]


def test_undeclared_symbols_are_counted_and_ignored_not_rejected() -> None:
    gate = TickGate(["/ES"])
    result = gate.admit(ticks([("/ES", 1, 1.0), ("AAPL", 2, 2.0), ("MSFT", 3, 3.0), ("AAPL", 4, 4.0)]))
    assert result.accepted["symbol"].to_list() == ["/ES"]
    assert result.rejections == []
    assert result.unknown_symbols == 3
    assert result.unknown_symbol_names == {"AAPL", "MSFT"}


def test_set_symbols_swaps_the_watch_list_and_keeps_order_marks() -> None:
    gate = TickGate(["/ES"])
    gate.admit(ticks([("/ES", 100, 1.0)]))
    gate.set_symbols(["/NQ"])
    result = gate.admit(ticks([("/ES", 200, 1.0), ("/NQ", 1, 2.0)]))
    assert result.accepted["symbol"].to_list() == ["/NQ"]
    assert result.unknown_symbols == 1
    gate.set_symbols(["/ES", "/NQ"])
    assert gate.admit(ticks([("/ES", 99, 3.0)])).accepted.height == 0


def test_gate_numbers_live_ticks_by_arrival_when_they_carry_no_row() -> None:
    gate = TickGate(["/ES"])
    gate.admit(ticks([("/ES", 10, 1.0), ("/ES", 11, 1.0)]).drop("row"))
    result = gate.admit(ticks([("/ES", 5, 1.0)]).drop("row"))
    assert [r.row for r in result.rejections] == [3]


def test_gate_accepts_an_empty_batch() -> None:
    result = TickGate(["/ES"]).admit(empty_ticks())
    assert result.accepted.height == 0 and result.unknown_symbols == 0


def _reference(batches: list[list[tuple[str, int]]], symbols: set[str]) -> tuple[list[int], list[int], int]:
    """The sequential definition: accept iff ts >= the last accepted ts of the symbol."""
    last: dict[str, int] = {}
    accepted, rejected, unknown, row = [], [], 0, 0
    for batch in batches:
        for symbol, ts in batch:
            row += 1
            if symbol not in symbols:
                unknown += 1
            elif symbol in last and ts < last[symbol]:
                rejected.append(row)
            else:
                last[symbol] = ts
                accepted.append(row)
    return accepted, rejected, unknown


@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 12)), max_size=15),
        max_size=6,
    )
)
def test_vectorized_gate_matches_the_row_by_row_definition(batches: list[list[tuple[str, int]]]) -> None:
    gate = TickGate(["A", "B"])
    accepted: list[int] = []
    rejected: list[int] = []
    unknown = 0
    first = 1
    for batch in batches:
        frame, bad = normalize(
            raw([(str(ts), s, str(first + i), None) for i, (s, ts) in enumerate(batch)]), first_row=first
        )
        assert bad == []
        first += len(batch)
        result = gate.admit(frame)
        accepted += [int(p) for p in result.accepted["price"].to_list()]  # price = row number
        rejected += [r.row for r in result.rejections]
        unknown += result.unknown_symbols
    assert (accepted, rejected, unknown) == _reference(batches, {"A", "B"})


@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 12)), max_size=15),
        max_size=6,
    ),
    st.booleans(),
)
@settings(max_examples=20, deadline=None)
def test_the_row_by_row_path_for_small_batches_agrees_with_the_full_path(
    batches: list[list[tuple[str, int]]], with_row: bool
) -> None:
    """Small in-order batches skip the polars queries; what comes out must not change."""
    quick, full = TickGate(["A", "B"]), TickGate(["A", "B"])
    quick.restore_marks({"B": datetime.fromtimestamp(T0_MS / 1000 + 0.005, timezone.utc)})
    full.restore_marks(quick.marks())
    first = 1
    for batch in batches:
        frame, _ = normalize(
            raw([(str(T0_MS + ts), s, str(first + i), None) for i, (s, ts) in enumerate(batch)]), first_row=first
        )
        first += len(batch)
        if not with_row:
            frame = frame.drop("row")
        got = quick.admit(frame)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ticks_module, "GATE_ROWS_IN_PYTHON", 0)
            want = full.admit(frame)
        assert got.accepted.equals(want.accepted)
        assert got.accepted.columns == want.accepted.columns
        assert (got.rejections, got.unknown_symbols, got.unknown_symbol_names) == (
            want.rejections, want.unknown_symbols, want.unknown_symbol_names
        )
        assert quick.marks() == full.marks()



@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 12)), min_size=1, max_size=15),
            st.booleans(),
        ),
        max_size=6,
    ),
    st.sampled_from(["A", "B"]),
    st.booleans(),
)
@example([([("A", 5), ("A", 8)], True), ([("A", 6)], True)], "A", True)  # the marks move
@example([([("A", 9), ("B", 7), ("A", 6)], False)], "B", True)  # not in time order
@example([([("A", 2), ("B", 3)], True)], "B", False)  # before A's mark
@example([([("B", 7), ("C", 8)], True)], "B", True)  # an unwatched symbol
@settings(max_examples=30, deadline=None)
def test_the_time_order_path_for_file_chunks_agrees_with_the_full_path(
    batches: list[tuple[list[tuple[str, int]], bool]], watched: str, with_row: bool
) -> None:
    """Chunks in time order across symbols skip the join; what comes out must not change.

    Batches are sorted by time half of the time (and some start before a symbol's mark,
    or hold an unwatched symbol), so both the accepted and the fall-back case are seen.
    """
    symbols = ["A", "B"] if watched == "B" else ["A"]
    quick, full = TickGate(symbols), TickGate(symbols)
    quick.restore_marks({"A": datetime.fromtimestamp(T0_MS / 1000 + 0.005, timezone.utc)})
    full.restore_marks(quick.marks())
    first = 1
    for batch, in_time_order in batches:
        rows = sorted(batch, key=lambda r: r[1]) if in_time_order else batch
        frame, _ = normalize(
            raw([(str(T0_MS + ts), s, str(first + i), None) for i, (s, ts) in enumerate(rows)]), first_row=first
        )
        first += len(rows)
        if not with_row:
            frame = frame.drop("row")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ticks_module, "GATE_ROWS_IN_PYTHON", 0)  # every batch takes the time-order path
            got = quick.admit(frame)
            mp.setattr(TickGate, "_admit_in_time_order", lambda self, ticks: None)
            want = full.admit(frame)
        assert got.accepted.equals(want.accepted)
        assert got.accepted.columns == want.accepted.columns
        assert got.accepted.schema == want.accepted.schema
        assert (got.rejections, got.unknown_symbols, got.unknown_symbol_names) == (
            want.rejections, want.unknown_symbols, want.unknown_symbol_names
        )
        assert quick.marks() == full.marks()


# --------------------------------------------------------------------------- reporting


def test_format_rejections_lists_the_first_rows_then_a_summary() -> None:
    rejections = [Rejection(row, f"price 'x{row}' is not a number") for row in range(20, 0, -1)]
    assert format_rejections(rejections, limit=3) == [
        "row 1: price 'x1' is not a number",
        "row 2: price 'x2' is not a number",
        "row 3: price 'x3' is not a number",
        "... and 17 more rejected rows",
    ]


def test_format_rejections_uses_the_true_total_when_only_some_were_kept() -> None:
    lines = format_rejections([Rejection(7, "ts is missing")], total=124)
    assert lines == ["row 7: ts is missing", "... and 123 more rejected rows"]
    assert format_rejections([Rejection(1, "a"), Rejection(2, "b")], limit=1)[-1] == "... and 1 more rejected row"
    assert format_rejections([]) == []


def test_whole_numbers_past_int64_are_out_of_range_in_text_and_in_float_columns() -> None:
    text = pl.DataFrame({
        "ts": ["1767623400000"] * 4, "symbol": ["/ES"] * 4, "price": ["1"] * 4,
        "volume": ["9223372036854775807", "9223372036854775808", "-99999999999999999999", "1e30"],
    })
    good, bad = normalize(text)
    assert good["volume"].to_list() == [9223372036854775807]
    assert [str(r) for r in bad] == [
        "row 2: volume '9223372036854775808' is out of range",
        "row 3: volume '-99999999999999999999' is negative",
        "row 4: volume '1e30' is out of range",
    ]
    floats = pl.DataFrame({
        "ts": [1767623400000] * 3, "symbol": ["/ES"] * 3, "price": [1.0] * 3, "volume": [1e20, 2.5, 3.0],
    })
    good, bad = normalize(floats)
    assert good["volume"].to_list() == [3]
    assert [str(r) for r in bad] == ["row 1: volume '1e+20' is out of range", "row 2: volume '2.5' is not a whole number"]


def _two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda n: f"{n:02d}")


#: The fixed-width ISO-8601 spelling, with every field free to leave its range (month 13,
#: 31 February, second 60, 1969) and a stray character anywhere.
_canonical_like = st.builds(
    lambda y, mo, d, h, mi, s, ms, stray: _with_stray(f"{y:04d}-{mo}-{d}T{h}:{mi}:{s}.{ms:03d}Z", stray),
    st.integers(0, 9999) | st.integers(1960, 2100) | st.sampled_from([1969, 1970, 2000, 2024, 2026, 2100]),
    _two(0, 13) | st.just("02"), _two(0, 32) | st.sampled_from(["28", "29", "30", "31"]),
    _two(0, 25), _two(0, 61), _two(0, 61), st.integers(0, 999),
    st.none() | st.tuples(st.integers(0, 23), st.sampled_from(list("0Z:-T. xz/+é"))),
)


def _with_stray(text: str, stray: tuple[int, str] | None) -> str:
    if stray is None:
        return text
    at, char = stray
    return text[:at] + char + text[at + 1:]


_valid_times = st.datetimes(datetime(1900, 1, 1), datetime(2200, 12, 31)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
)


@given(st.lists(_valid_times | _canonical_like | st.none(), max_size=40))
@example(["2026-02-29T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2100-02-29T00:00:00.000Z",
          "2026-04-31T00:00:00.000Z", "2026-12-01T14:40:60.000Z", "1969-12-31T23:59:59.999Z", "2026-12-01t14:40:47.571Z"])
# one year and month on every row: the calendar is worked out once, days still checked per row
@example(["2026-02-28T00:00:00.000Z", "2026-02-29T00:00:00.000Z", "2026-02-01T23:59:59.999Z", "2026-02-00T00:00:00.000Z"])
@example(["2024-02-29T12:00:00.000Z", "2024-02-30T12:00:00.000Z", "2024-02-09T24:00:00.000Z"])
@example(["1969-12-31T23:59:59.999Z", "1969-12-01T00:00:00.000Z"])
@example(["2026-13-01T00:00:00.000Z", "2026-13-02T00:00:00.000Z"])
@example(["2026-12-31T23:59:59.999Z", "2026-12-32T00:00:00.000Z", "2026-12-3aT00:00:00.000Z", "2026-12-31T23:59:5:.999Z"])
@settings(max_examples=100, deadline=None)
def test_the_fixed_width_time_reader_agrees_with_chrono(texts: list[str | None]) -> None:
    """Times in the usual spelling skip chrono's parser: whatever that shortcut reads, chrono
    reads to the same instant, and what it leaves (null) still goes through chrono."""
    text = pl.Series("ts", texts, pl.String)
    fast = ticks_module._canonical_iso(text)
    chrono = ticks_module._parse_iso_z(text)
    taken = fast.is_not_null()
    assert fast.filter(taken).to_physical().to_list() == chrono.filter(taken).to_physical().to_list()
    # the ordinary valid times do take the shortcut
    plain = text.str.contains(r"^(19[7-9]\d|[2-9]\d{3})-\d\d-\d\dT\d\d:\d\d:[0-5]\d\.\d{3}Z$").fill_null(False)
    assert (chrono.is_not_null() & plain).to_list() == (taken & plain).to_list()
    # and the whole normalisation is what chrono alone gives
    frame = pl.DataFrame({"ts": text, "_i_ts": pl.Series([None] * len(texts), dtype=pl.Int64)})
    got = ticks_module._with_iso_ts(frame)["_iso_ts"]
    expected = chrono.fill_null(ticks_module._parse_iso_any(text)) if len(texts) else chrono
    assert got.to_physical().to_list() == expected.to_physical().to_list()


def test_the_fixed_width_time_reader_keeps_row_order_across_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticks_module, "_CANONICAL_SLICE", 3)
    texts = ["2026-01-05T14:30:00.125Z", None, "2026-02-30T00:00:00.000Z", "1767623400125",
             "2024-02-29T23:59:59.999Z", "2026-12-31T00:00:00.001Z", "2026-07-01T12:00:00.000Z"] * 3
    text = pl.Series("ts", texts, pl.String)
    got = ticks_module._canonical_iso(text).to_physical().to_list()
    chrono = ticks_module._parse_iso_z(text).to_physical().to_list()
    assert got == chrono
    assert got[0] == T0_MS + 125
