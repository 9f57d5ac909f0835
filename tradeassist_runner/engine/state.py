"""State carried from one micro-batch to the next, as plain JSON-able dicts.

Keyed by what survives a reload: sources (bars in progress, equal-ts counts) by their
symbols and bar length, value series by (type, symbols, bar, parameters), firing state
(cooldown, ``for`` run, re-arm) by the rule's exact definition.  A plan swap therefore
keeps the state of everything unchanged without any bookkeeping, and a snapshot is
text that restores bit-identical floats (Python's float repr round-trips).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .carried import FiringArrays


@dataclass(frozen=True)
class EngineState:
    next_seq: int = 0
    #: source key -> {"bar", "same", "latest"} (engine/samples.py)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: series key -> {"type": the type's own state, "last": value at the last sample | None}
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: rule fingerprint -> {"last", "armed", "run"} (engine/firing.py)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Version of the plan that wrote this state (not snapshotted): while it is the plan
    #: evaluating, every key above is the plan's and nothing needs pruning.
    plan_version: str | None = field(default=None, compare=False)
    #: ``rules`` as per-source arrays, for the next batch of the plan that wrote them
    #: (not snapshotted; engine/carried.py).
    firing: FiringArrays | None = field(default=None, compare=False, repr=False)
    #: series key -> (its type state, what the type returned beside it): that state in a
    #: form cheaper for the type to read, handed back with that very state object only
    #: (not snapshotted; ``RuleType`` ``values_all``).
    series_arrays: dict[str, tuple[Any, Any]] = field(default_factory=dict, compare=False, repr=False)
