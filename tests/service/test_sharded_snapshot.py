"""A shard's snapshot is taken between batches by reference and encoded later, a slice at a time."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tradeassist_runner.config.loaded import LoadedConfig
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.snapshot import dump_state
from tradeassist_runner.rules.groups import symbol_shards
from tradeassist_runner.service.sharded import Shard, _plan_for, _restore, _take, open_shard_state
from tradeassist_runner.service.snapshots import SnapshotEncoder
from tradeassist_runner.sources.ticks import TickGate

from .sharded_helpers import sharded_project

RULES = (
    "  - {id: es-roc, instrument: /ES, type: rate_of_change, window: 5s, condition: above, threshold: 0.1}\n"
    "  - {id: es-up, instrument: /ES, type: threshold, condition: above, threshold: 3, cooldown: 5ms}\n"
)


def ticks(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "ts": [1767621600000 + 10 * i for i in range(start, start + n)],
        "symbol": ["/ES"] * n,
        "price": [1.0 + i for i in range(start, start + n)],
        "volume": [1] * n,
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"))


def shard_of(loaded: LoadedConfig) -> Shard:
    assignment = symbol_shards(loaded.rules, loaded.instruments, 2)
    index = assignment["/ES"]
    unit = Shard(index, f"s:{index}", Engine(_plan_for(loaded, assignment, index)), TickGate(["/ES"]),
                 open_shard_state(loaded, index, 2), {"stream": f"s:{index}"})
    return unit


def test_a_shard_snapshot_encoded_after_more_batches_restores_the_state_it_was_taken_at(tmp_path: Path) -> None:
    loaded = load_config(sharded_project(tmp_path, "redis://127.0.0.1:1/0", RULES))
    unit = shard_of(loaded)
    unit.engine.process(unit.gate.admit(ticks(0, 200)).accepted)
    unit.last_id, unit.last_row = "5-0", 200
    taken = _take(unit)
    expected = dump_state(unit.engine.state)["state"]
    encoder = SnapshotEncoder(taken)
    parts = encoder.step(0.0)
    # batches go on while the snapshot is encoded: they must not reach what was taken
    unit.engine.process(unit.gate.admit(ticks(200, 200)).accepted)
    unit.last_id, unit.last_row = "9-0", 400
    assert dump_state(unit.engine.state)["state"] != expected
    while parts is None:
        parts = encoder.step(0.0)
    assert parts["state"] == expected
    unit.store.save(parts, unit.finger)
    unit.store.close()

    again = shard_of(loaded)
    _restore(again, loaded)
    assert dump_state(again.engine.state)["state"] == expected
    assert (again.last_id, again.last_row) == ("5-0", 200)
    assert again.committed_id == "5-0"
    assert json.loads(parts["run"])["marks"] == {"/ES": 1767621600000 + 10 * 199}
    again.store.close()
