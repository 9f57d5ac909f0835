"""Tick files: CSV and Parquet read in chunks; unusable files are a TickFileError (exit 1)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradeassist_runner.errors import TickFileError
from tradeassist_runner.sources.replay import (
    ReplayChunk,
    iter_parquet_selection,
    iter_tick_file,
    read_tick_file,
    replay_batches,
)
from tradeassist_runner.sources.ticks import Rejection, normalize

from ..virtual_time import run_virtual

CSV = """ts,symbol,price,volume
2026-01-05T14:30:00.000Z,/ES,6000.25,3
2026-01-05T14:30:00.100Z,/ES,abc,1
1767623400200,/NQ,21000,
2026-01-05T14:30:00.300Z,/ES,6000.5,-2
2026-01-05T14:30:00.400Z,/ES,6000.75,1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def frame(n: int, start_ms: int = 1_767_623_400_000, step_ms: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series([start_ms + i * step_ms for i in range(n)]).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            "symbol": ["/ES"] * n,
            "price": [float(i) for i in range(n)],
            "volume": list(range(n)),
        }
    )


def collect(path: Path, **kw: object) -> list[ReplayChunk]:
    async def run() -> list[ReplayChunk]:
        return [c async for c in replay_batches(path, **kw)]  # type: ignore[arg-type]

    return asyncio.run(run())


# --------------------------------------------------------------------------- reading


def test_csv_is_read_as_text_so_bad_cells_do_not_fail_the_read(tmp_path: Path) -> None:
    raw = read_tick_file(write(tmp_path / "t.csv", CSV))
    assert raw.columns == ["ts", "symbol", "price", "volume", "line", "problem"]
    assert all(dtype == pl.String for dtype in raw.drop("line").dtypes)
    good, bad = normalize(raw)
    assert good["row"].to_list() == [1, 3, 5]
    assert [str(r) for r in bad] == ["line 3: price 'abc' is not a number", "line 5: volume '-2' is negative"]


def test_csv_headers_with_padding_bom_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeff ts , symbol,price,volume,note,bid\r\n1,/ES,1,2,hello,0.5\r\n".encode())
    raw = read_tick_file(path)
    assert raw.columns == ["ts", "symbol", "price", "volume", "bid", "line", "problem"]
    assert raw.row(0) == ("1", "/ES", "1", "2", "0.5", 2, None)


def test_ragged_csv_rows_become_rejected_rows(tmp_path: Path) -> None:
    raw = read_tick_file(write(tmp_path / "t.csv", "ts,symbol,price,volume\n1,/ES\n2,/ES,1,1,extra\n3,/ES,1,1\n"))
    good, bad = normalize(raw)
    assert good["row"].to_list() == [3]
    assert [str(r) for r in bad] == [
        "line 2: 2 fields where the header has 4", "line 3: 5 fields where the header has 4"
    ]


def test_parquet_file_with_native_types(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame(3).write_parquet(path)
    good, bad = normalize(read_tick_file(path))
    assert bad == [] and good.height == 3
    assert good["ts"][0] == datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)


def test_pq_extension_and_a_directory_of_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    frame(2).write_parquet(tmp_path / "ds" / "part-0.pq")
    frame(3, start_ms=1_767_623_500_000).write_parquet(tmp_path / "ds" / "part-1.parquet")
    (tmp_path / "ds" / "_SUCCESS").write_text("")
    assert read_tick_file(tmp_path / "ds").height == 5
    assert read_tick_file(tmp_path / "ds" / "part-0.pq").height == 2


def test_iter_tick_file_streams_chunks_in_file_order(tmp_path: Path) -> None:
    lines = "".join(f"{1_767_623_400_000 + i},/ES,{i},1\n" for i in range(1000))
    csv = write(tmp_path / "t.csv", "ts,symbol,price,volume\n" + lines)
    pq = tmp_path / "t.parquet"
    frame(1000).write_parquet(pq, row_group_size=100)
    for path in (csv, pq):
        chunks = list(iter_tick_file(path, chunk_rows=64))
        assert len(chunks) > 1
        assert all(c.height <= 64 for c in chunks)
        prices = pl.concat([normalize(c)[0] for c in chunks])["price"].to_list()
        assert prices == [float(i) for i in range(1000)]


def test_a_csv_file_is_read_in_growing_blocks_with_every_line_once(tmp_path: Path) -> None:
    """The blocks double from 256 KiB: a file of a few MiB is cut at several block sizes."""
    n = 120_000  # about 4.5 MB: blocks of 256 KiB, 512 KiB, 1 MiB, 2 MiB and the rest
    lines = "".join(f"2026-01-05T14:30:{i % 60:02d}.{i % 1000:03d}Z,/ES,{i}.25,{i % 7}\n" for i in range(n))
    path = write(tmp_path / "t.csv", "ts,symbol,price,volume\n" + lines)
    chunks = list(iter_tick_file(path, chunk_rows=1_000_000))
    assert [c.height for c in chunks[:4]] == sorted(c.height for c in chunks[:4])  # one chunk a block
    assert chunks[0].height < chunks[1].height < chunks[2].height
    ticks, bad = normalize(pl.concat(chunks))
    assert not bad and ticks.height == n
    assert ticks["price"].to_list() == [i + 0.25 for i in range(n)]
    assert ticks["volume"].to_list() == [float(i % 7) for i in range(n)]


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 100_000])
@pytest.mark.parametrize("max_selected_group", [1_000_000, 30])
def test_a_parquet_selection_is_the_selected_rows_of_each_chunk_the_file_is_read_in(
    tmp_path: Path, chunk_rows: int, max_selected_group: int
) -> None:
    """Row groups of several sizes in two files, some small enough to select while reading
    and some (with the lower limit) read in slices: the same rows, numbers and chunks."""
    (tmp_path / "ds").mkdir()
    symbols = ["/ES", " /NQ ", "", None, "/NQ", "ZZZ", "/NQ"]
    b = 70_000 if chunk_rows > 65_536 else 130  # past the first chunk, which is shorter
    for name, n, group in (("a.parquet", 250, 40), ("b.parquet", b, b)):
        f = frame(n).with_columns(pl.Series("symbol", [symbols[(i * 5 + n) % 7] for i in range(n)], pl.String))
        f.write_parquet(tmp_path / "ds" / name, row_group_size=group)
    trimmed = pl.col("symbol").str.strip_chars()
    keep = (trimmed.is_in(["/NQ"]) | trimmed.is_null()).fill_null(False)
    expected, first_row = [], 1
    for chunk, raw in enumerate(iter_tick_file(tmp_path / "ds", chunk_rows)):
        numbered = raw.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).add(first_row).alias("_row_"))
        first_row += raw.height
        mine = numbered.filter(keep)
        if mine.height:
            expected.append((chunk, mine))
    got = list(iter_parquet_selection(tmp_path / "ds", keep, chunk_rows, max_selected_group=max_selected_group))
    assert [c for c, _ in got] == [c for c, _ in expected]
    assert all(g.equals(e) for (_, g), (_, e) in zip(got, expected))
    assert sum(e.height for _, e in expected) > 100


# --------------------------------------------------------------------------- unusable files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "file not found"),
        ("ticks.txt", "ts,symbol,price,volume\n", "unknown tick file format '.txt'"),
        ("ticks", "ts,symbol,price,volume\n", "unknown tick file format '(no extension)'"),
        ("empty.csv", "", "file is empty"),
        ("cols.csv", "ts,symbol,last\n1,/ES,2\n", "missing required columns price, volume"),
        ("one.csv", "ts,symbol,price\n", "missing required column volume "),
        ("bad.parquet", "this is not parquet", "not a readable Parquet file"),
    ],
)
def test_unusable_files_raise_tick_file_error_naming_the_problem(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        write(path, content)
    for read in (read_tick_file, iter_tick_file):
        with pytest.raises(TickFileError) as err:
            read(path)
        assert message in str(err.value)
        assert err.value.path == str(path)


def test_a_directory_without_parquet_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TickFileError, match="no .parquet"):
        read_tick_file(tmp_path)


def test_parquet_missing_a_required_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame(2).drop("volume").write_parquet(path)
    with pytest.raises(TickFileError, match="missing required column volume"):
        iter_tick_file(path)


# --------------------------------------------------------------------------- async replay


def test_replay_yields_normalized_ticks_and_parse_rejections(tmp_path: Path) -> None:
    chunks = collect(write(tmp_path / "t.csv", CSV), chunk_rows=2)
    ticks = pl.concat([c.ticks for c in chunks])
    assert ticks["row"].to_list() == [1, 3, 5]
    assert ticks["ts"].dtype == pl.Datetime("ms", "UTC")
    assert [r for c in chunks for r in c.rejections] == [
        Rejection(2, "price 'abc' is not a number", line=3),
        Rejection(4, "volume '-2' is negative", line=5),
    ]


def test_replay_of_an_unusable_file_raises_tick_file_error(tmp_path: Path) -> None:
    with pytest.raises(TickFileError, match="file not found"):
        collect(tmp_path / "nope.parquet")


async def arrivals(path: Path, **kw: object) -> list[tuple[float, list[float]]]:
    """(seconds since the start on the loop's clock, prices) of every chunk replayed."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    return [
        (loop.time() - started, chunk.ticks["price"].to_list())
        async for chunk in replay_batches(path, **kw)  # type: ignore[arg-type]
    ]


def test_replay_paces_at_speed_times_the_recorded_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame(5, step_ms=1000).write_parquet(path)  # 4 s of ticks
    got = run_virtual(arrivals(path, speed=20.0))  # 1 s gaps / 20 = 50 ms (virtual clock)
    # one tick per gap, not the whole chunk at once
    assert got == [(pytest.approx(0.05 * i), [float(i)]) for i in range(5)]


def test_replay_without_speed_does_not_wait_for_recorded_gaps(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame(3, step_ms=3_600_000).write_parquet(path)  # hours apart
    got = run_virtual(arrivals(path))
    assert [p for _, ps in got for p in ps] == [0.0, 1.0, 2.0]
    assert [t for t, _ in got] == [0.0] * len(got)  # the clock never moved


# --------------------------------------------------------------------------- bad rows are rows


def rejected(path: Path, chunk_rows: int = 65_536) -> tuple[list[float], list[str]]:
    """Prices of the good rows and the rejections as a user reads them, over the whole file."""
    prices: list[float] = []
    lines: list[str] = []
    first = 1
    for raw in iter_tick_file(path, chunk_rows=chunk_rows):
        good, bad = normalize(raw, first_row=first)
        first += raw.height
        prices += good["price"].to_list()
        lines += [str(r) for r in bad]
    return prices, lines


HEAD = "ts,symbol,price,volume\n"
GOOD = "2026-01-05T14:30:00.000Z,/ES,{p},1\n"


@pytest.mark.parametrize("chunk_rows", [1, 2, 65_536])
def test_one_badly_quoted_cell_is_one_rejected_row_with_its_line(tmp_path: Path, chunk_rows: int) -> None:
    text = HEAD + GOOD.format(p=1) + '2026-01-05T14:30:00.000Z,/ES,"12"x,1\n' + GOOD.format(p=3)
    prices, lines = rejected(write(tmp_path / "t.csv", text), chunk_rows)
    assert prices == [1.0, 3.0]
    assert len(lines) == 1 and lines[0].startswith("line 3: ") and "quot" in lines[0]


@pytest.mark.parametrize("chunk_rows", [1, 3, 65_536])
def test_an_unclosed_quote_does_not_swallow_the_rest_of_the_file(tmp_path: Path, chunk_rows: int) -> None:
    text = HEAD + GOOD.format(p=1) + '2026-01-05T14:30:00.000Z,"/ES,2,1\n' + GOOD.format(p=3) + GOOD.format(p=4)
    prices, lines = rejected(write(tmp_path / "t.csv", text), chunk_rows)
    assert prices == [1.0, 3.0, 4.0]
    assert len(lines) == 1 and lines[0].startswith("line 3: ")


def test_quoted_cells_that_are_well_formed_are_read(tmp_path: Path) -> None:
    text = HEAD + '"2026-01-05T14:30:00.000Z","/ES","6000.5","2"\n' + GOOD.format(p=7)
    assert rejected(write(tmp_path / "t.csv", text)) == ([6000.5, 7.0], [])


@pytest.mark.parametrize("quoted", [False, True])
def test_a_wrong_field_count_is_a_rejection_not_a_silent_shift(tmp_path: Path, quoted: bool) -> None:
    q = '"/ES"' if quoted else "/ES"
    text = (
        HEAD
        + f"2026-01-05T14:30:00.000Z,{q},6000,5,40\n"  # decimal comma: 6000,5 is not price 6000
        + f"2026-01-05T14:30:00.000Z,{q}\n"
        + GOOD.format(p=9)
    )
    prices, lines = rejected(write(tmp_path / "t.csv", text))
    assert prices == [9.0]
    assert lines == ["line 2: 5 fields where the header has 4", "line 3: 2 fields where the header has 4"]


def test_rejections_name_file_lines_not_data_rows(tmp_path: Path) -> None:
    text = HEAD + GOOD.format(p=1) + "\n" + GOOD.format(p="abc") + "\r\n" + GOOD.format(p=2).replace("1\n", "-1\n")
    prices, lines = rejected(write(tmp_path / "t.csv", text))
    assert prices == [1.0]
    assert lines == ["line 4: price 'abc' is not a number", "line 6: volume '-1' is negative"]


def test_a_volume_past_int64_is_out_of_range_not_fractional(tmp_path: Path) -> None:
    text = HEAD + "2026-01-05T14:30:00.000Z,/ES,1,99999999999999999999999\n" + "2026-01-05T14:30:00.000Z,/ES,1,1.5\n"
    assert rejected(write(tmp_path / "t.csv", text))[1] == [
        "line 2: volume '99999999999999999999999' is out of range",
        "line 3: volume '1.5' is not a whole number",
    ]


def test_replay_reads_past_a_bad_quote(tmp_path: Path) -> None:
    text = HEAD + '2026-01-05T14:30:00.000Z,/ES,"12"x,1\n' + GOOD.format(p=3)
    chunks = collect(write(tmp_path / "t.csv", text))
    assert [p for c in chunks for p in c.ticks["price"].to_list()] == [3.0]
    assert next(str(r) for c in chunks for r in c.rejections).startswith("line 2: ")


def test_paced_replay_does_not_wait_through_rows_before_the_resume_point(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame(5, step_ms=3_600_000).write_parquet(path)  # an hour between ticks

    async def run() -> list[float]:
        return [p async for c in replay_batches(path, speed=1.0, resume_after=4) for p in c.ticks["price"].to_list()]

    async def bounded() -> list[float]:
        return await asyncio.wait_for(run(), timeout=60)  # paced from row 1 this would take 4 hours

    assert asyncio.run(bounded()) == [4.0]


TRICKY = [
    '1,/ES,2,3',
    '"1","/ES","2","3"',
    '1,"/E,S",2,3',  # a comma inside quotes is not a delimiter
    '1,"/E""S",2,3',  # an escaped quote
    '1,"",2,3',
    '1,"12"x,2,3',
    '1,/E"S,2,3',  # a quote inside an unquoted cell: csv takes it as a character
    '1,"/ES,2,3',
    '1,/ES",2,3',
    '1,"""",2,3',
    '1,""",2,3',
    '1,/ES,2,3,4',
    '1,/ES,2',
    '',
    '1,"/ES" ,2,3',
    '"1,/ES,2,3"',
    '1,/ES,2,"3"\r',
]


@pytest.mark.parametrize("order", range(4))
def test_the_vectorized_reader_agrees_with_the_csv_module_line_by_line(tmp_path: Path, order: int) -> None:
    import random

    from tradeassist_runner.sources.replay import (
        _careful,
        _csv_header,
        _parse_csv_piece,
    )

    lines = TRICKY[:]
    random.Random(order).shuffle(lines)
    path = write(tmp_path / "t.csv", HEAD + "\n".join(lines) + "\n")
    header = _csv_header(path)
    piece = path.read_bytes()[header.body_offset:]
    fast, count = _parse_csv_piece(piece, header, 2)
    assert count == len(lines)
    assert fast.rows() == _careful(piece, header, 2).rows()


_PRICES = ["6000.25", "+5", ".5", "5.", "1e3", "00012", "4.9e-324", " 12", "12 ", "", "  ", "abc", "1e400", "nan", "NaN",
           "inf", "-Infinity", "1_0", "0x10"]
_VOLUMES = ["3", "", "-0", "+5", " 7", "7 ", "12.0", "1e3", "-4", "abc", "99999999999999999999"]


@pytest.mark.parametrize("column,spelling", [("price", p) for p in _PRICES] + [("volume", v) for v in _VOLUMES])
def test_number_cells_parsed_by_the_reader_normalize_as_text_would(tmp_path: Path, column: str, spelling: str) -> None:
    """A clean CSV block has its numbers parsed by polars' reader, not cast from text; a
    cell of any spelling must give the same tick, or the same rejection, either way."""
    rows = [("2026-01-05T14:30:00.000Z", "/ES", "6000.25", "3"), ("1767623400100", "/ES", "6000.5", "")]
    odd = {"price": "6001", "volume": "2", column: spelling}
    rows.append(("2026-01-05T14:30:00.200Z", "/ES", odd["price"], odd["volume"]))
    path = write(tmp_path / "t.csv", "ts,symbol,price,volume,bid\n" + "".join(f"{','.join(r)},\n" for r in rows))
    chunks = list(iter_tick_file(path))
    assert len(chunks) == 1
    good, rejected = normalize(chunks[0])
    text_good, text_rejected = normalize(read_tick_file(path))  # every column read as text
    assert good.equals(text_good) and rejected == text_rejected
    assert text_good.height + len(text_rejected) == 3


_FAST_TIMES = st.datetimes(datetime(1970, 1, 1), datetime(2200, 12, 31)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
)
#: A first cell the bytes reader must leave to the text path, or read exactly as it would.
_ODD_TIMES = st.sampled_from([
    "1969-12-31T23:59:59.999Z", "2026-02-29T10:00:00.000Z", "2024-02-29T10:00:00.000Z", "2026-13-01T10:00:00.000Z",
    "2026-01-05T24:00:00.000Z", "2026-01-05T14:60:00.000Z", "2026-01-05T14:30:60.000Z", "2026-01-05 14:30:00.000Z",
    "2026-01-05T14:30:00.000z", "2026-01-05T14:30:00.00Z", "2026-01-05T14:30:00.0000Z", " 2026-01-05T14:30:00.000Z",
    "2026-01-05T14:30:00.000Z ", "2026-01-05T14:30:00+00:00", "1767623400000", "", "abc", "2026-01-05T14:3a:00.000Z",
    "2026-01-05T14:30:00.000+0", "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-01-05T14:30:00.000Zx",
])


@given(
    st.lists(_FAST_TIMES, min_size=1, max_size=12),
    st.none() | st.tuples(st.integers(0, 12), _ODD_TIMES),
    st.sampled_from(["ts,symbol,price,volume", "ts,symbol,price,volume,bid", "symbol,ts,price,volume"]),
    st.booleans(),
)
@example(["2026-01-05T14:30:00.125Z", "2026-01-05T14:30:01.000Z"], None, "ts,symbol,price,volume", False)
@example(["2026-01-05T14:30:00.125Z"], (1, "2026-02-29T10:00:00.000Z"), "ts,symbol,price,volume", False)
@example(["2026-01-05T14:30:00.125Z"], (0, "2026-01-05T14:30:00.000Zx"), "ts,symbol,price,volume", False)
@settings(max_examples=60, deadline=None)
def test_times_read_from_the_lines_bytes_normalize_as_the_text_would(
    times: list[str], odd: tuple[int, str] | None, head: str, crlf: bool
) -> None:
    """A clean piece whose first column is the fixed-width ts has it read from the bytes;
    whatever the cells, the ticks and rejections must be those of the text path."""
    from tradeassist_runner.sources import replay

    if odd is not None:
        times.insert(min(odd[0], len(times)), odd[1])
    names = head.split(",")
    cells = [{"ts": ts, "symbol": "/ES", "price": f"{6000 + i}.25", "volume": str(i), "bid": ""} for i, ts in enumerate(times)]
    end = "\r\n" if crlf else "\n"
    piece = "".join(",".join(c[n] for n in names) + end for c in cells).encode()
    header = replay._CsvHeader(len(names), names, [names.index(n) for n in ("ts", "symbol", "price", "volume", "bid")
                                                   if n in names], 0)
    fast, _ = replay._parse_csv_piece(piece, header, 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(replay, "_leading_times", lambda *args: None)
        text, _ = replay._parse_csv_piece(piece, header, 2)
    fast_good, fast_bad = normalize(fast)
    text_good, text_bad = normalize(text)
    assert fast_good.equals(text_good) and fast_good.schema == text_good.schema
    assert fast_bad == text_bad, "bad"

