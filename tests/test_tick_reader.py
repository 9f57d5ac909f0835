"""A backtest's tick reader: started before the config is known, it yields exactly what reading
on the caller's thread yields, reports an unreadable file where that would, and stops cleanly."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tradeassist_runner.errors import TickFileError
from tradeassist_runner.tick_reader import TickChunk, TickReader, read_chunks

from .cli_helpers import tradeassist

SYMBOLS = ["/ES", "$TICK"]


def _tick_csv(path: Path, rows: int) -> Path:
    lines = ["ts,symbol,price,volume"]
    for i in range(rows):
        symbol = ("/ES", "$TICK", "/NQ")[i % 3]  # /NQ is not declared: counted, not evaluated
        ts = 1767623400000 + i * 10 - (500 if i % 97 == 50 else 0)  # now and then one goes back in time
        price = "abc" if i % 101 == 7 else f"{6000 + (i % 13) * 0.25}"
        lines.append(f"{ts},{symbol},{price},{'' if i % 5 == 0 else i % 7}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _summary(chunks: list[TickChunk]) -> list[tuple[object, ...]]:
    return [(c.read, c.parse_rejections, c.gate_rejections, c.unknown_symbol_ticks, c.unknown_symbols, c.accepted,
             [rows for _, rows in c.batches]) for c in chunks]


def _ticks(chunks: list[TickChunk]) -> pl.DataFrame:
    return pl.concat([batch for c in chunks for batch, _ in c.batches])


@pytest.mark.parametrize("early", [1, 2, 50])
def test_a_reader_started_before_its_symbols_yields_what_the_caller_would_read(tmp_path: Path, early: int) -> None:
    csv = _tick_csv(tmp_path / "ticks.csv", 5000)
    expected = list(read_chunks(csv, 7, SYMBOLS))  # batch 7: chunks of 7,168 rows, several batches each
    small = list(read_chunks(csv, 1, SYMBOLS))  # chunks of 1,024 rows: five of them
    assert len(small) == 5 and sum(c.parse_rejections != [] for c in small) == 5

    reader = TickReader(csv, 1, early=early)
    try:
        got = list(reader.start(SYMBOLS))
    finally:
        reader.close()
    assert _summary(got) == _summary(small)
    assert_frame_equal(_ticks(got), _ticks(expected))
    assert sum(c.gate_rejections != [] for c in got) > 0 and got[0].unknown_symbol_ticks > 0


def test_an_unreadable_file_is_reported_when_its_chunks_are_asked_for(tmp_path: Path) -> None:
    (tmp_path / "nocols.csv").write_text("ts,symbol,price\n2026-01-05T14:30:00Z,/ES,1\n")
    for path, message in ((tmp_path / "missing.csv", "file not found"), (tmp_path / "nocols.csv", "volume")):
        reader = TickReader(path, 10)
        try:
            with pytest.raises(TickFileError, match=message):
                next(iter(reader.start(SYMBOLS)))
        finally:
            reader.close()


def test_closing_a_reader_that_never_got_its_symbols_stops_its_worker(tmp_path: Path) -> None:
    csv = _tick_csv(tmp_path / "ticks.csv", 5000)
    before = set(threading.enumerate())
    reader = TickReader(csv, 1, early=2)  # reads two chunks, then waits for symbols that never come
    started = set(threading.enumerate()) - before
    reader.close()
    assert started and not [t for t in started if t.is_alive()]


def test_an_invalid_config_is_reported_before_an_unreadable_tick_file(tmp_path: Path) -> None:
    (tmp_path / "rules.d").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"instruments": [{"symbol": "/ES", "type": "futur"}], "rules_dir": "rules.d"}))
    result = tradeassist("backtest", config, "--ticks", tmp_path / "missing.csv")
    assert result.returncode == 1
    assert "config.yaml:1:" in result.stderr and "missing.csv" not in result.stderr
    assert result.stdout == ""


def test_batches_after_the_first_chunk_are_full_but_the_last(tmp_path: Path) -> None:
    """Chunks end where their blocks of bytes do; the batches do not (a short batch costs as much as a full one)."""
    csv = _tick_csv(tmp_path / "ticks.csv", 30_000)
    chunks = list(read_chunks(csv, 7, SYMBOLS))  # chunks of 7,168 rows, about 2,400 accepted each
    first = [b.height for b, _ in chunks[0].batches]
    later = [b.height for c in chunks[1:] for b, _ in c.batches]
    assert len(chunks) > 3 and all(size <= 7 for size in first) and sum(first) == chunks[0].accepted
    assert all(size == 7 for size in later[:-1]) and 0 < later[-1] <= 7
    assert sum(first) + sum(later) == sum(c.accepted for c in chunks)
    by_one = list(read_chunks(csv, 1, SYMBOLS))
    assert_frame_equal(_ticks(chunks), _ticks(by_one))
    assert [rows for c in chunks for _, rows in c.batches] == sorted(rows for c in chunks for _, rows in c.batches)
    assert chunks[-1].batches[-1][1] == sum(c.read for c in chunks)


def test_a_reader_told_its_batch_size_with_its_symbols_cuts_batches_of_that_size(tmp_path: Path) -> None:
    # A backtest without --batch-size starts reading before the config says how many rules
    # (and so which batch size) there are: the size comes with the symbols.
    csv = _tick_csv(tmp_path / "ticks.csv", 30_000)
    expected = list(read_chunks(csv, 5_000, SYMBOLS))
    reader = TickReader(csv, None, early=2)
    try:
        got = list(reader.start(SYMBOLS, 5_000))
    finally:
        reader.close()
    sizes = [b.height for c in got for b, _ in c.batches]
    assert max(sizes) == 5_000 and sizes.count(5_000) >= 3
    assert sizes == [b.height for c in expected for b, _ in c.batches]
    assert_frame_equal(_ticks(got), _ticks(expected))
