"""The compiled plan and the state it carries across batches and plan swaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from tradeassist_runner.rules.catalog import RULE_MODELS
from tradeassist_runner.config.loaded import LoadedRule, Location

from tradeassist_runner.engine.alert_rows import RuleTexts
from tradeassist_runner.engine.evaluate import BatchTables, Engine, prepare
from tradeassist_runner.engine.firing import _build_rule_tables
from tradeassist_runner.engine.plan import compile_plan, fingerprint

ThresholdRule = RULE_MODELS["threshold"]

HERE = Location("rules.yaml", 1, 1)
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)


def rule(**kw: object) -> ThresholdRule:
    base: dict[str, object] = dict(id="es", instrument="/ES", type="threshold", condition="above", threshold=100)
    base.update(kw)
    return ThresholdRule.model_validate(base)


def ticks(*prices: float, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=start + i) for i in range(len(prices))],
            "symbol": ["/ES"] * len(prices),
            "price": [float(p) for p in prices],
            "volume": [1] * len(prices),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def test_inactive_rules_are_compiled_but_never_fire() -> None:
    plan = compile_plan([LoadedRule(rule(active=False), HERE)])
    assert len(plan.rules) == 1 and not plan.active_rules and not plan.symbols
    assert Engine(plan).process(ticks(150, 160)).height == 0


def test_fingerprint_changes_with_the_definition_only() -> None:
    assert fingerprint(rule()) == fingerprint(rule())
    assert fingerprint(rule()) != fingerprint(rule(threshold=101))


def test_unchanged_rule_keeps_its_cooldown_across_a_plan_swap() -> None:
    engine = Engine(compile_plan([LoadedRule(rule(cooldown="60s"), HERE)]))
    assert engine.process(ticks(150)).height == 1
    # Same rule, plus a new one: the cooldown of "es" still holds 10 s later.
    other = rule(id="es2", threshold=120, cooldown="60s")
    engine.swap(compile_plan([LoadedRule(rule(cooldown="60s"), HERE), LoadedRule(other, HERE)]))
    fired = engine.process(ticks(150, start=10))
    assert fired["rule_id"].to_list() == ["es2"]


def test_changed_rule_starts_fresh() -> None:
    engine = Engine(compile_plan([LoadedRule(rule(cooldown="60s"), HERE)]))
    assert engine.process(ticks(150)).height == 1
    engine.swap(compile_plan([LoadedRule(rule(cooldown="60s", threshold=110), HERE)]))
    assert engine.process(ticks(150, start=10))["rule_id"].to_list() == ["es"]


def test_alert_record_carries_the_spec_fields() -> None:
    engine = Engine(compile_plan([LoadedRule(rule(severity="critical", name="ES over 100"), HERE)]))
    alerts = engine.process(ticks(99, 101.5))
    row = alerts.row(0, named=True)
    assert row["rule_id"] == "es" and row["symbol"] == "/ES"
    assert row["ts"] == T0 + timedelta(seconds=1)
    assert row["value"] == 101.5 and row["threshold"] == 100.0 and row["prev_value"] == 99.0
    assert row["condition"] == "above" and row["type"] == "threshold" and row["severity"] == "critical"
    assert row["message"] == "/ES price 101.5 is above 100"


def test_rules_sharing_a_series_share_one_computation() -> None:
    """A threshold edit keeps the series key (value state); the fingerprint (firing state) changes."""
    a = compile_plan([LoadedRule(rule(), HERE), LoadedRule(rule(id="es2", threshold=120), HERE)])
    assert len(a.series) == 1 and len(a.sources) == 1
    b = compile_plan([LoadedRule(rule(threshold=101), HERE)])
    assert a.series[0].key == b.series[0].key
    assert a.rules[0].state_key != b.rules[0].state_key


def test_prices_and_volumes_at_the_edge_of_float64_give_alerts_not_crashes() -> None:
    """1e308 prices, int64-max volumes, a 1e-308 reference: values overflow to inf or stay
    undefined, the batch still evaluates, and no numpy warning escapes (warnings are errors)."""
    from tradeassist_runner.rules.catalog import RULE_MODELS

    bodies = [
        {"type": "moving_average", "period": 2}, {"type": "ma_cross", "fast": 1, "slow": 2, "average": "ema"},
        {"type": "rsi", "period": 2}, {"type": "bollinger", "period": 2}, {"type": "breakout", "period": 2},
        {"type": "vwap"}, {"type": "rate_of_change", "window": "1s"}, {"type": "volume_spike", "period": 1},
        {"type": "threshold", "bar": "1m"},
    ]
    rules = [
        LoadedRule(RULE_MODELS[b["type"]].model_validate(
            {"id": f"r{i}", "instrument": "/ES", "condition": "above", "threshold": 0, "cooldown": "0s", **b}), HERE)
        for i, b in enumerate(bodies)
    ]
    prices = [1e308, -1e308, 1.7e308, 1e-300, 5.0, 1e-308]
    frame = pl.DataFrame(
        {"ts": [T0 + timedelta(seconds=70 * i) for i in range(len(prices))], "symbol": ["/ES"] * len(prices),
         "price": prices, "volume": [9_223_372_036_854_775_807, 9_223_372_036_854_775_807, 5, 0, None, 1]},
        schema={"ts": pl.Datetime("ms", "UTC"), "symbol": pl.String, "price": pl.Float64, "volume": pl.Int64},
    )
    for size in (1, 100):
        engine = Engine(compile_plan(rules))
        alerts = pl.concat([engine.process(frame.slice(i, size)) for i in range(0, frame.height, size)])
        assert alerts.height > 0
        assert alerts["alert_id"].n_unique() == alerts.height


def test_series_and_source_keys_are_the_json_of_what_they_name() -> None:
    """Keys name carried state in snapshots: the plan's must be exactly ``series_key`` /
    ``source_key`` of each series, whatever else the plan holds, and parameters that are
    equal numbers of different types (1 and 1.0) must not share one."""
    from tradeassist_runner.engine.plan import series_key, source_key

    rules = [LoadedRule(RULE_MODELS["rate_of_change"].model_validate(
        dict(id=f"r{i}", instrument=sym, type="rate_of_change", window=window, condition="above", threshold=1)), HERE)
        for i, (sym, window) in enumerate([("/ES", "5s"), ("/NQ", "5s"), ("/ES", "1m"), ("/ES", "5s")])]
    rules.append(LoadedRule(rule(id="t"), HERE))
    plan = compile_plan(rules)
    assert len(plan.series) == 4 and len(plan.sources) == 2
    for spec in plan.sources:
        assert spec.key == source_key(spec.symbols, spec.bar_ms)
    for s in plan.series:
        src = plan.sources[s.source]
        assert s.key == series_key(s.type_name, src.symbols, src.bar_ms, s.params)
    assert series_key("x", ("/ES",), None, (1,)) != series_key("x", ("/ES",), None, (1.0,))


def test_a_prepared_plan_has_its_first_batch_tables_and_evaluates_the_same() -> None:
    rules = [
        LoadedRule(rule(), HERE),
        LoadedRule(rule(id="es-below", condition="below", threshold=120, message="{symbol} under {threshold}"), HERE),
        LoadedRule(rule(id="idle", active=False), HERE),
    ]
    prepared, lazy = compile_plan(rules), compile_plan(rules)
    prepare(prepared)
    for name in ("state_keys_version", "condition_series", "_derived"):
        assert name in vars(prepared) and name not in vars(lazy)
    assert {_build_rule_tables, BatchTables, RuleTexts} == set(vars(prepared)["_derived"])
    batch = ticks(99, 101.5, 130, 110)
    assert Engine(prepared).process(batch, now=T0).equals(Engine(lazy).process(batch, now=T0))
    prepare(compile_plan([]))  # a plan without rules has nothing to build, and says nothing


def test_what_a_layer_derives_from_a_plan_is_built_once_and_kept_with_that_plan() -> None:
    plan, other = compile_plan([LoadedRule(rule(), HERE)]), compile_plan([LoadedRule(rule(), HERE)])
    built: list[object] = []

    def build(p: object) -> list[object]:
        built.append(p)
        return [p]

    assert plan.derived(build) is plan.derived(build)
    assert other.derived(build) == [other]
    assert built == [plan, other]
