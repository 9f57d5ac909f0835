"""State carried from one micro-batch to the next.

Everything here is keyed by something that survives a reload: value series by their
value key (symbol|type|param), cooldowns by the rule's definition fingerprint.  A plan
swap therefore keeps the state of unchanged rules without any bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

LAST_VALUE_SCHEMA: dict[str, pl.DataType] = {"key": pl.String(), "value": pl.Float64()}
LAST_FIRE_SCHEMA: dict[str, pl.DataType] = {"state_key": pl.String(), "last_fire_ms": pl.Int64()}


@dataclass(frozen=True)
class EngineState:
    next_seq: int = 0
    #: The value of each series at the last tick of its symbol (null when undefined).
    last_value: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LAST_VALUE_SCHEMA))
    #: Per rule type, whatever its ``values`` returned (look-back tails, recent volumes).
    history: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: Tick time of each rule's last fire.
    last_fire: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LAST_FIRE_SCHEMA))
    #: The same facts as numpy arrays indexed by one plan's value-key codes and rule slots,
    #: set by the engine so the next batch on that plan skips re-deriving them from the
    #: frames (engine/evaluate.py ``_Mirror``); never part of a snapshot or of equality.
    mirror: Any = field(default=None, compare=False, repr=False)
