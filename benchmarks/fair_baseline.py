"""A fair per-tick baseline: the alert engine a user would write in an afternoon.

    python benchmarks/fair_baseline.py CONFIG_DIR/rules.d/bench.yaml TICKS.parquet [--limit N]

The vectorized engine is compared with this, not with the tests' reference evaluator
(which rescans each symbol's history on every tick, a peer no one would pick). It is
plain Python, written straight from the rule semantics and sharing no code with the
runner: it reads the rules file itself, indexes rules by symbol, and keeps a few lines of
state per rule so that each rule costs O(1) per tick of its symbol:

- ``threshold``: value = price;
- ``rate_of_change``: a deque of the symbol's earlier (ts, price) pairs, trimmed from the
  left to the most recent one with ``ts <= tick.ts - window`` (the ref);
- ``volume_spike``: a deque of the last ``period`` non-null volumes and their running sum
  (integers, so the sum is exact);
- conditions with the rule's previous value, cooldown in tick time, ``active``;
- ticks rejected as the contract says (non-finite price, negative volume, ts earlier than
  the symbol's previous accepted tick) and undeclared symbols ignored, before any rule
  sees them; ``alert_id`` = ``RULE_ID@TS_MS#K``, K = earlier ticks of the symbol with
  this ts.

It covers the tick types the benchmark workload uses (threshold, rate_of_change,
volume_spike); bars and the second-edition types are out of its scope.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def duration_ms(text: str | int | float | None, default: int) -> int:
    """``30s``, ``1m30s``, ``1500ms`` -> milliseconds (the rule-file spelling)."""
    if text is None:
        return default
    s = str(text).strip()
    parts = _PART.findall(s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(f"not a duration: {text!r}")
    return int(round(sum(float(n) * _UNITS[u] for n, u in parts)))


class Rule:
    """One rule: its parameters and its state (previous value, last fire)."""

    __slots__ = ("id", "instrument", "kind", "condition", "threshold", "cooldown", "active", "prev", "last_fire",
                 "window", "hist", "period", "vols", "vsum")

    def __init__(self, d: dict[str, Any]) -> None:
        self.id = str(d["id"])
        self.instrument = str(d["instrument"])
        self.kind = str(d["type"])
        if self.kind not in ("threshold", "rate_of_change", "volume_spike"):
            raise ValueError(f"rule {self.id}: type {self.kind} is not covered by the baseline")
        if d.get("bar") is not None or any(k in d for k in ("for", "rearm", "hours", "days", "calendar")):
            raise ValueError(f"rule {self.id}: bars and modifiers are not covered by the baseline")
        self.condition = str(d["condition"])
        self.threshold = float(d["threshold"])
        self.cooldown = duration_ms(d.get("cooldown"), 60_000)
        self.active = bool(d.get("active", True))
        self.prev: float | None = None
        self.last_fire: int | None = None
        self.window = duration_ms(d.get("window"), 0)
        self.hist: deque[tuple[int, float]] = deque()
        self.period = int(d.get("period") or 0)
        self.vols: deque[int] = deque()
        self.vsum = 0

    def value(self, ts: int, price: float, volume: int | None) -> float | None:
        """This tick's value (None = undefined), and the state moved past the tick."""
        kind = self.kind
        if kind == "threshold":
            return price
        if kind == "rate_of_change":
            hist = self.hist
            limit = ts - self.window
            while len(hist) >= 2 and hist[1][0] <= limit:
                hist.popleft()
            out: float | None = None
            if hist and hist[0][0] <= limit:
                ref = hist[0][1]
                if ref != 0:
                    out = (price - ref) / abs(ref) * 100
                    if math.isinf(out):
                        out = None
            hist.append((ts, price))
            return out
        # volume_spike
        if volume is None:
            return None
        out = None
        if len(self.vols) == self.period:
            mean = self.vsum / self.period
            if mean != 0:
                out = volume / mean
        self.vols.append(volume)
        self.vsum += volume
        if len(self.vols) > self.period:
            self.vsum -= self.vols.popleft()
        return out

    def holds(self, value: float | None) -> bool:
        prev, self.prev = self.prev, value
        if value is None:
            return False
        c, th = self.condition, self.threshold
        if c == "above":
            return value > th
        if c == "below":
            return value < th
        if prev is None:
            return False
        if c == "crosses_above":
            return prev <= th < value
        return prev >= th > value


def load_rules(path: Path) -> list[Rule]:
    """The rules of one rules file (a mapping with a ``rules:`` list), in file order."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(path.read_text())
    return [Rule(d) for d in doc["rules"]]


def run(rules: list[Rule], symbols: Iterable[str], ts: Sequence[int], sym: Sequence[str],
        price: Sequence[float], volume: Sequence[int | None]) -> tuple[list[str], int]:
    """The ``alert_id`` of every fire, in firing order (tick order, then rule order),
    and the number of rejected ticks."""
    by_symbol: dict[str, list[Rule]] = {s: [] for s in symbols}
    for r in rules:
        by_symbol[r.instrument].append(r)
    last_ts: dict[str, int] = {}
    same_ts: dict[str, int] = {}
    fired: list[str] = []
    rejected = 0
    for t, s, p, v in zip(ts, sym, price, volume):
        rs = by_symbol.get(s)
        if rs is None:
            continue  # undeclared symbol: counted and ignored
        before = last_ts.get(s)
        if p != p or p in (math.inf, -math.inf) or (v is not None and v < 0) or (before is not None and t < before):
            rejected += 1
            continue
        k = same_ts[s] + 1 if before == t else 0
        same_ts[s] = k
        last_ts[s] = t
        for r in rs:
            if r.holds(r.value(t, p, v)) and r.active and (r.last_fire is None or t - r.last_fire >= r.cooldown):
                r.last_fire = t
                fired.append(f"{r.id}@{t}#{k}")
    return fired, rejected


def prepare(path: Path) -> tuple[list[Rule], list[str]]:
    """Rules of ``path`` and the symbols they watch."""
    rules = load_rules(path)
    return rules, sorted({r.instrument for r in rules})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rules", type=Path, help="a rules file (YAML with a rules: list)")
    ap.add_argument("ticks", type=Path, help="a Parquet tick file")
    ap.add_argument("--limit", type=int, help="only the first N ticks")
    args = ap.parse_args()
    import polars as pl

    ticks = pl.read_parquet(args.ticks)
    if args.limit:
        ticks = ticks.head(args.limit)
    rules, symbols = prepare(args.rules)
    cols = (ticks["ts"].dt.epoch("ms").to_list(), ticks["symbol"].to_list(), ticks["price"].to_list(),
            ticks["volume"].to_list())
    t = time.perf_counter()
    fired, rejected = run(rules, symbols, *cols)
    s = time.perf_counter() - t
    print(f"{ticks.height:,} ticks, {len(rules):,} rules: {len(fired):,} alerts, {rejected} rejected, "
          f"{s:.1f} s = {ticks.height / s:,.0f} ticks/s", file=sys.stderr)


if __name__ == "__main__":
    main()
