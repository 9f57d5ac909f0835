"""The firing state of a source's rules as arrays, carried from batch to batch beside
the state dicts.

The dicts (``EngineState.rules``) are the state's format, but reading every rule's
dict into arrays and writing every rule's dict back is Python work per rule, per
batch, whatever fired: most of a live micro-batch's fixed cost on a plan of a thousand
rules.  So the batch that reads them keeps the arrays it made beside the dicts it
wrote, and the next batch of the same plan starts from those arrays and writes back
only the dicts of the rules whose state changed.  The arrays are read-only: a batch
makes new ones, so a state shared by two engines (or kept by a caller) never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..rules.seam import B, I64
from .sparse import NEVER


def _frozen(a: Any) -> Any:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Carried:
    """Per rule of a source (its ``RuleTable`` order): t of the last fire, t where the
    ``for`` run going on began (``NEVER``: none) and whether it is re-armed."""

    last: I64
    run: I64
    armed: B

    def __post_init__(self) -> None:
        for a in (self.last, self.run, self.armed):
            _frozen(a)

    @staticmethod
    def of(states: Sequence[dict[str, Any]]) -> Carried:
        """From state dicts (``firing.fresh_state`` shape; ``run`` may be absent)."""
        k = len(states)
        return Carried(
            np.fromiter((NEVER if s["last"] is None else s["last"] for s in states), np.int64, k),
            np.fromiter((NEVER if s.get("run") is None else s["run"] for s in states), np.int64, k),
            np.fromiter((bool(s["armed"]) for s in states), np.bool_, k),
        )

    def take(self, rows: I64) -> Carried:
        return Carried(self.last[rows], self.run[rows], self.armed[rows])

    def changed(self, new: Carried) -> I64:
        """Positions whose state differs in ``new``."""
        out: I64 = np.flatnonzero((self.last != new.last) | (self.run != new.run) | (self.armed != new.armed))
        return out


def state_dict(old: dict[str, Any] | None, carried: Carried, i: int, with_for: bool) -> dict[str, Any]:
    """Rule ``i``'s state dict after a batch: ``old`` (a fresh state if None) with what
    firing sets (``last``, ``armed``, and ``run`` for a rule with ``for``)."""
    st: dict[str, Any] = {"last": None, "armed": True, "run": None} if old is None else dict(old)
    last = int(carried.last[i])
    st["last"] = None if last == NEVER else last
    st["armed"] = bool(carried.armed[i])
    if with_for or "run" in st:
        run = int(carried.run[i])
        st["run"] = None if run == NEVER else run
    return st


def write_states(rules: dict[str, dict[str, Any]], keys: Sequence[str], carried: Carried, rows: I64,
                 has_for: B) -> None:
    """``state_dict`` of each rule at ``rows`` (``keys``: every rule's key) written into
    ``rules``: one pass over Python numbers, as a backtest batch changes the state of
    most rules and a numpy scalar read per field would cost more than the dict itself."""
    never = NEVER
    for i, last, run, armed, with_for in zip(rows.tolist(), carried.last[rows].tolist(), carried.run[rows].tolist(),
                                             carried.armed[rows].tolist(), has_for[rows].tolist()):
        key = keys[i]
        old = rules.get(key)
        st: dict[str, Any] = {"last": None, "armed": True, "run": None} if old is None else dict(old)
        st["last"] = None if last == never else last
        st["armed"] = armed
        if with_for or "run" in st:
            st["run"] = None if run == never else run
        rules[key] = st


class FiringArrays:
    """Per source (plan index), its rules' ``Carried`` state: valid for one plan and the
    one rules dict it was written with (an ``EngineState`` built any other way, e.g. from
    a snapshot, has none and is read from its dicts)."""

    def __init__(self, plan: object, rules: dict[str, dict[str, Any]], sources: dict[int, Carried]) -> None:
        self.plan = plan
        self.rules = rules
        self.sources = sources

    def valid_for(self, plan: object, rules: dict[str, dict[str, Any]]) -> bool:
        return self.plan is plan and self.rules is rules

    def __reduce__(self) -> tuple[type[FiringArrays], tuple[None, dict[str, Any], dict[int, Carried]]]:
        """Pickled (a state sent to another process) it is empty: valid for no plan there."""
        return FiringArrays, (None, {}, {})
