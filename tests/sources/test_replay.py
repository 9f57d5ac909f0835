"""Tick files: CSV and Parquet read in chunks; unusable files are a TickFileError (exit 1)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from tradeassist_runner.errors import TickFileError
from tradeassist_runner.sources.replay import (
    ReplayChunk,
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
    assert raw.columns == ["ts", "symbol", "price", "volume"]
    assert all(dtype == pl.String for dtype in raw.dtypes)
    good, bad = normalize(raw)
    assert good["row"].to_list() == [1, 3, 5]
    assert [str(r) for r in bad] == ["row 2: price 'abc' is not a number", "row 4: volume '-2' is negative"]


def test_csv_headers_with_padding_bom_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeff ts , symbol,price,volume,note,bid\r\n1,/ES,1,2,hello,0.5\r\n".encode())
    raw = read_tick_file(path)
    assert raw.columns == ["ts", "symbol", "price", "volume", "bid"]
    assert raw.row(0) == ("1", "/ES", "1", "2", "0.5")


def test_ragged_csv_rows_become_rejected_rows(tmp_path: Path) -> None:
    raw = read_tick_file(write(tmp_path / "t.csv", "ts,symbol,price,volume\n1,/ES\n2,/ES,1,1,extra\n"))
    good, bad = normalize(raw)
    assert good["row"].to_list() == [2]
    assert [str(r) for r in bad] == ["row 1: price is missing"]


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
        Rejection(2, "price 'abc' is not a number"),
        Rejection(4, "volume '-2' is negative"),
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
