"""The engine fires exactly what the per-tick reference fires, however the stream is cut.

Random rules of every type, modifier and conjunction, on random streams with equal
timestamps, gaps longer than a bar, null volumes and negative prices; evaluated at batch
sizes 1, 7 and 100000, across a snapshot/restore and across a reload that edits some
thresholds (value state kept, firing state of the edited rules reset).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.engine.snapshot import dump_state, load_state
from tradeassist_runner.rules.registry import REGISTRY

from .reference import Fired, Tick, reference_alerts

SYMBOLS = ["/ES", "$TICK"]
BASE = 1_772_900_000_000  # 2026-03-07, the day before the US daylight-saving change
PRICES = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 10.0]
GAPS = [0, 0, 1, 500, 1000, 3000, 7000]

THRESHOLDS: dict[str, list[float]] = {
    "threshold": [-1.5, 0.25, 1.75, 2.25, 10.5],
    "rate_of_change": [-30.3, -0.7, 0.7, 30.3],
    "volume_spike": [0.7, 1.3, 2.6],
    "moving_average": [-20.3, -0.3, 0.3, 20.3],
    "ma_cross": [-20.3, -0.3, 0.3, 20.3],
    "rsi": [30.3, 49.7, 50.5, 69.7],
    "breakout": [-0.3, 0.3, 1.1],
    "bollinger": [-1.3, -0.3, 0.3, 1.3],
    "vwap": [-5.3, -0.3, 0.3, 5.3],
    "spread": [-3.3, 0.3, 2.7, 0.7, 1.3],
}
TICK_ONLY = {"vwap", "spread"}
KINDS = [k for k in THRESHOLDS if k in REGISTRY]
CONDITIONS = ["above", "below", "crosses_above", "crosses_below"]


@st.composite
def params(draw: Any, kind: str, instrument: str) -> dict[str, Any]:
    if kind == "rate_of_change":
        return {"window": draw(st.sampled_from(["1ms", "1s", "2500ms"]))}
    if kind == "volume_spike":
        return {"period": draw(st.integers(1, 4))}
    if kind == "moving_average":
        return {"period": draw(st.integers(1, 4)), "average": draw(st.sampled_from(["sma", "ema"]))}
    if kind == "ma_cross":
        fast = draw(st.integers(1, 3))
        return {"fast": fast, "slow": draw(st.integers(fast + 1, 5)), "average": draw(st.sampled_from(["sma", "ema"]))}
    if kind == "rsi":
        return {"period": draw(st.integers(1, 4))}
    if kind == "breakout":
        return {"period": draw(st.integers(1, 3)), "side": draw(st.sampled_from(["high", "low"]))}
    if kind == "bollinger":
        return {"period": draw(st.integers(2, 4))}
    if kind == "vwap":
        return {"anchor": draw(st.sampled_from(["00:00", "09:30"]))}
    if kind == "spread":
        out: dict[str, Any] = {
            "other": [s for s in SYMBOLS if s != instrument][0],
            "mode": draw(st.sampled_from(["difference", "ratio"])),
            "factor": draw(st.sampled_from([1, 0.5, -2])),
        }
        age = draw(st.sampled_from([None, "1s"]))
        if age:
            out["max_age"] = age
        return out
    return {}


@st.composite
def body(draw: Any, kind: str, instrument: str, crossing: bool = True) -> dict[str, Any]:
    conds = CONDITIONS if crossing else ["above", "below"]
    return {"type": kind, **draw(params(kind, instrument)), "condition": draw(st.sampled_from(conds)),
            "threshold": draw(st.sampled_from(THRESHOLDS[kind]))}


@st.composite
def rule(draw: Any, i: int, gates: bool = False) -> dict[str, Any]:
    instrument = draw(st.sampled_from(SYMBOLS))
    kind = draw(st.sampled_from([*KINDS, "all"]))
    use_for = draw(st.sampled_from([False, False, True]))
    r: dict[str, Any] = {"id": f"r{i}", "instrument": instrument}
    bar_ok = kind not in TICK_ONLY
    if kind == "all":
        kinds = draw(st.lists(st.sampled_from([k for k in KINDS if k != "spread"]), min_size=2, max_size=3))
        r["type"] = "all"
        r["conditions"] = [draw(body(k, instrument, not use_for)) for k in kinds]
        bar_ok = "vwap" not in kinds
    else:
        r.update(draw(body(kind, instrument, not use_for)))
    r["cooldown"] = draw(st.sampled_from(["0s", "0s", "1ms", "1s", "3s", "60s"]))
    if bar_ok and draw(st.booleans()):
        r["bar"] = draw(st.sampled_from(["1s", "2s", "5s"]))
    if use_for:
        r["for"] = draw(st.sampled_from(["0s", "1s", "2500ms"]))
    if draw(st.sampled_from([False, False, True])):
        r["rearm"] = draw(st.sampled_from([0, 0.5, 2]))
    if gates:
        if draw(st.booleans()):
            r["hours"] = draw(st.sampled_from([["09:30-16:00"], ["18:00-09:30"], ["00:00-24:00"], ["02:00-03:00", "12:00-13:00"]]))
        if draw(st.booleans()):
            r["days"] = draw(st.sampled_from([["mon", "tue", "wed", "thu", "fri"], ["sat", "sun"], ["sun"]]))
    if draw(st.sampled_from([True, True, True, False])) is False:
        r["active"] = False
    return r


@st.composite
def rule_sets(draw: Any, gates: bool = False) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 6))
    return [draw(rule(i, gates)) for i in range(n)]


@st.composite
def streams(draw: Any, gaps: list[int] = GAPS, max_size: int = 60) -> list[Tick]:
    n = draw(st.integers(0, max_size))
    clock = {s: BASE for s in SYMBOLS}
    level = {s: 1.0 for s in SYMBOLS}
    out = []
    for _ in range(n):
        sym = draw(st.sampled_from(SYMBOLS))
        clock[sym] += draw(st.sampled_from(gaps))
        level[sym] = draw(st.sampled_from([level[sym], level[sym] + 0.5, level[sym] - 0.5, *PRICES[:3], 10.0]))
        out.append(Tick(clock[sym], sym, level[sym], draw(st.sampled_from([None, 0, 1, 2, 3, 9]))))
    return out


def load(rules: list[dict[str, Any]]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "rules.d").mkdir()
        (d / "config.yaml").write_text(json.dumps({
            "instruments": [{"symbol": "/ES", "type": "future"}, {"symbol": "$TICK", "type": "internal"}],
            "rules_dir": "rules.d",
        }))
        (d / "rules.d" / "r.yaml").write_text(json.dumps({"rules": rules}))
        return load_config(d / "config.yaml")


def frame(ticks: list[Tick]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [t.ts_ms for t in ticks], "symbol": [t.symbol for t in ticks],
         "price": [t.price for t in ticks], "volume": [t.volume for t in ticks]},
        schema={"ts": pl.Int64, "symbol": pl.String, "price": pl.Float64, "volume": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def fired(alerts: pl.DataFrame) -> list[Fired]:
    out = []
    for r in alerts.iter_rows(named=True):
        bar = r["bar_start"]
        out.append(Fired(r["rule_id"], r["symbol"], int(r["ts"].timestamp() * 1000), r["value"], r["alert_id"],
                         None if bar is None else int(bar.timestamp() * 1000),
                         json.loads(r["values"]) if r["values"] else None))
    return out


def run_engine(loaded: Any, ticks: list[Tick], batch_size: int, restore_at: int | None = None,
               reload: tuple[int, Any] | None = None) -> list[Fired]:
    engine = Engine(compile_plan(loaded.rules, loaded.instruments))
    df = frame(ticks)
    cuts = sorted({0, df.height, *(x for x in (restore_at, reload[0] if reload else None) if x is not None)})
    out: list[Fired] = []
    for a, b in zip(cuts, cuts[1:]):
        if restore_at is not None and a == restore_at:
            parts = dump_state(engine.state)
            engine = Engine(engine.plan, load_state({k: bytes(v) for k, v in parts.items()}))
        if reload is not None and a == reload[0]:
            engine.swap(compile_plan(reload[1].rules, reload[1].instruments))
        for start in range(a, b, batch_size):
            out.extend(fired(engine.process(df.slice(start, min(batch_size, b - start)))))
    return out


def same(a: list[Fired], b: list[Fired]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x.rule_id, x.symbol, x.ts_ms, x.alert_id, x.bar_start) != (y.rule_id, y.symbol, y.ts_ms, y.alert_id, y.bar_start):
            return False
        if not math.isclose(x.value, y.value, rel_tol=1e-9, abs_tol=1e-12):
            return False
        if (x.values is None) != (y.values is None):
            return False
        if x.values is not None and y.values is not None and not all(
            math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-12) for p, q in zip(x.values, y.values)
        ):
            return False
    return True


def show(a: list[Fired]) -> str:
    return "\n".join(f"{f.alert_id} {f.value} bar={f.bar_start} {f.values}" for f in a)


@settings(deadline=None)
@given(rules=rule_sets(), ticks=streams(), batch_size=st.sampled_from([1, 7, 100_000]),
       max_slice=st.sampled_from([16_384, 5]), max_cells=st.sampled_from([1 << 21, 7]))
def test_engine_matches_reference(rules: list[dict[str, Any]], ticks: list[Tick], batch_size: int,
                                  max_slice: int, max_cells: int) -> None:
    """Also with big batches cut into small internal slices and rules into small chunks, as the
    engine does past MAX_SLICE ticks and MAX_CELLS rules x samples."""
    from tradeassist_runner.engine import evaluate as evaluate_module
    from tradeassist_runner.engine import firing as firing_module

    loaded = load(rules)
    want = reference_alerts([r.rule for r in loaded.rules], ticks)
    saved = evaluate_module.MAX_SLICE, firing_module.MAX_CELLS
    evaluate_module.MAX_SLICE, firing_module.MAX_CELLS = max_slice, max_cells
    try:
        got = run_engine(loaded, ticks, batch_size)
    finally:
        evaluate_module.MAX_SLICE, firing_module.MAX_CELLS = saved
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"


@settings(deadline=None)
@given(rules=rule_sets(), ticks=streams(), batch_size=st.sampled_from([1, 7, 100_000]), data=st.data())
def test_snapshot_restore_mid_stream(rules: list[dict[str, Any]], ticks: list[Tick], batch_size: int, data: Any) -> None:
    loaded = load(rules)
    at = data.draw(st.integers(0, len(ticks)))
    want = reference_alerts([r.rule for r in loaded.rules], ticks)
    got = run_engine(loaded, ticks, batch_size, restore_at=at)
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"


@settings(deadline=None)
@given(rules=rule_sets(), ticks=streams(), batch_size=st.sampled_from([1, 7, 100_000]), data=st.data())
def test_reload_mid_stream_keeps_value_state(rules: list[dict[str, Any]], ticks: list[Tick], batch_size: int,
                                             data: Any) -> None:
    """Edited thresholds/messages keep the series (bars, windows, averages); firing state restarts."""
    loaded = load(rules)
    edited = [dict(r) for r in rules]
    for r in edited:
        change = data.draw(st.sampled_from(["none", "none", "message", "cooldown"]))
        if change == "message":
            r["message"] = "edited {symbol}"
        elif change == "cooldown":
            r["cooldown"] = "2s"
    reloaded = load(edited)
    at = data.draw(st.integers(0, len(ticks)))
    want = reference_alerts([r.rule for r in loaded.rules], ticks, reload=(at, [r.rule for r in reloaded.rules]))
    got = run_engine(loaded, ticks, batch_size, reload=(at, reloaded))
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"


@settings(deadline=None)
@given(rules=rule_sets(gates=True), ticks=streams(gaps=[0, 1000, 60_000, 900_000, 3_600_000, 7_200_000], max_size=40),
       batch_size=st.sampled_from([1, 7, 100_000]))
def test_gates_match_reference(rules: list[dict[str, Any]], ticks: list[Tick], batch_size: int) -> None:
    """Trading hours and days across a daylight-saving change (America/New_York)."""
    loaded = load(rules)
    want = reference_alerts([r.rule for r in loaded.rules], ticks)
    got = run_engine(loaded, ticks, batch_size)
    assert same(got, want), f"engine:\n{show(got)}\nreference:\n{show(want)}"
