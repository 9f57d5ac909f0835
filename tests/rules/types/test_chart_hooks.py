"""What every rule type tells a chart: its panel, and lines in price units whose threshold
line is where the value really meets the threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeassist_runner.rules.registry import REGISTRY
from tradeassist_runner.rules.seam import THRESHOLD_PRICE, Chart, Samples

PARAMS = {
    "threshold": (), "rate_of_change": (5000,), "volume_spike": (5,), "moving_average": ("ema", 8),
    "ma_cross": ("sma", 3, 8), "rsi": (6,), "breakout": ("low", 5), "bollinger": (10,),
    "vwap": ("00:00", "America/New_York"), "spread": ("$SPX", "difference", 10.0, None),
}


def _samples(n: int = 80) -> Samples:
    rng = np.random.default_rng(1)
    ts = 1_767_623_400_000 + np.arange(n, dtype=np.int64) * 1000
    price = 6000 + np.cumsum(rng.normal(0, 1, n))
    source = (np.arange(n) % 3 == 2).astype(np.int64)  # a spread's other symbol every third tick
    price = np.where(source == 1, price / 10, price)
    return Samples.of_ticks(ts, price, rng.integers(1, 50, n).astype(np.float64), source)


def test_every_registered_type_says_how_it_is_charted() -> None:
    assert set(REGISTRY) == set(PARAMS), "a new rule type needs a chart panel and chart_lines (and a row here)"
    for name, rule_type in REGISTRY.items():
        assert isinstance(rule_type.chart, Chart), name
        values, _ = rule_type.values(PARAMS[name], _samples(), None)
        lines = rule_type.chart_lines(PARAMS[name], values.inputs, 1.0)
        for key, line in lines.items():
            assert len(line) == len(values.value), (name, key)
    assert REGISTRY["rsi"].chart.value_range == (0.0, 100.0)
    assert REGISTRY["threshold"].chart.panel is None  # its value is the price itself


#: type -> the input that is the instrument's own price
PRICE_INPUT = {"threshold": "price", "rate_of_change": "price", "moving_average": "price", "breakout": "price",
               "bollinger": "price", "vwap": "price", "spread": "a"}


@pytest.mark.parametrize("name", sorted(PRICE_INPUT))
@pytest.mark.parametrize("threshold", [-0.3, 0.0, 0.05, 2.0])
def test_the_threshold_line_is_the_price_at_which_the_value_meets_the_threshold(name: str, threshold: float) -> None:
    rule_type = REGISTRY[name]
    params = PARAMS[name]
    values, _ = rule_type.values(params, _samples(), None)
    level = rule_type.chart_lines(params, values.inputs, threshold)[THRESHOLD_PRICE]
    checked = 0
    for i in range(len(level)):
        if math.isnan(values.value[i]) or math.isnan(level[i]):
            continue
        inputs = {k: float(v[i]) for k, v in values.inputs.items()}
        inputs[PRICE_INPUT[name]] = float(level[i])
        assert rule_type.replay(params, inputs) == pytest.approx(threshold, abs=1e-9, rel=1e-9), (name, i)
        checked += 1
    assert checked > 20


def test_types_without_a_price_counterpart_draw_only_their_panel() -> None:
    for name in ("rsi", "volume_spike"):
        values, _ = REGISTRY[name].values(PARAMS[name], _samples(), None)
        assert REGISTRY[name].chart_lines(PARAMS[name], values.inputs, 50.0) == {}
    values, _ = REGISTRY["ma_cross"].values(PARAMS["ma_cross"], _samples(), None)
    assert set(REGISTRY["ma_cross"].chart_lines(PARAMS["ma_cross"], values.inputs, 0.0)) == {"SMA(3)", "SMA(8)"}
