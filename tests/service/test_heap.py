"""What start-up and a reload build is left out of later garbage collections, and only that.

A full collection walks every object the collector tracks; a runner's compiled plan and
config are most of them and live for the run, so the runner freezes them once built.
"""

from __future__ import annotations

import asyncio
import gc
import io
import weakref
from pathlib import Path

import polars as pl

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.service import runner
from tradeassist_runner.service.heap import LongLived
from tradeassist_runner.service.observe import Observer


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _in_generations(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_settle_freezes_what_is_alive_and_frees_young_cycles_first() -> None:
    long_lived = LongLived()
    kept = [[1], [2]]  # tracked containers, alive across the settle
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b
    try:
        long_lived.settle()
        assert gone() is None  # collected, not frozen (frozen garbage would stay for good)
        assert gc.get_freeze_count() > 0
        assert not _in_generations(kept)  # later collections do not walk it
    finally:
        long_lived.release()
    assert gc.get_freeze_count() == 0
    assert _in_generations(kept)


class _FreezeSeen(Observer):
    """The real observer, noting the collector's frozen count at every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[int] = []

    def on_batch(self, accepted: pl.DataFrame, rejected: int, unknown: int, latency_s: float) -> None:
        self.frozen.append(gc.get_freeze_count())
        super().on_batch(accepted, rejected, unknown, latency_s)


def test_the_runner_freezes_its_start_up_for_the_run_and_releases_it_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / "r.yaml").write_text(
        "rules:\n  - {id: es.up, instrument: /ES, type: threshold, condition: above, threshold: 100, cooldown: 0s}\n"
    )
    (tmp_path / "ticks.csv").write_text(
        "ts,symbol,price,volume\n2026-01-05T14:30:00.000Z,/ES,99.5,1\n2026-01-05T14:30:01.000Z,/ES,100.5,1\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "source: {type: replay, path: ticks.csv}\nbatch: {max_size: 1}\n"
        "storage: {sqlite: data/alerts.sqlite, parquet_dir: data/alerts, state: data/state.sqlite}\n"
    )
    seen = _FreezeSeen()
    assert gc.get_freeze_count() == 0
    code = asyncio.run(runner.run_service(load_config(config), out=io.StringIO(), observer=seen, watch_files=False))
    assert code == 0
    assert len(seen.frozen) == 2 and all(n > 0 for n in seen.frozen)  # every batch ran with start-up frozen
    assert gc.get_freeze_count() == 0  # an in-process caller gets its collector back
