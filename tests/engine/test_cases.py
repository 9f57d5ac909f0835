"""Hand-computed cases through the real engine: rules from YAML text, ticks in, alerts out.

Each case is small enough to work out on paper; the comment beside every assertion
shows the arithmetic, so a failing number points at the rule of the vocabulary it
breaks (Wilder's averages, the EMA seed, a ``for`` run, re-arm, spread staleness, the
VWAP anchor in local time, bars gated and cooled down by their start, batch cuts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan

Row = tuple[str, str, float, int | None]  # (UTC time, symbol, price, volume)


def engine(tmp_path: Path, rules: str) -> Engine:
    """An engine over ``rules`` (the YAML of a rules file) on /ES and $SPX."""
    (tmp_path / "rules.d").mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text(
        "instruments:\n  - {symbol: /ES, type: future}\n  - {symbol: $SPX, type: index}\nrules_dir: rules.d\n"
    )
    (tmp_path / "rules.d" / "r.yaml").write_text(rules)
    loaded = load_config(tmp_path / "config.yaml")
    return Engine(compile_plan(loaded.rules, loaded.instruments))


def ms(text: str) -> int:
    """Epoch ms of a UTC time written ``2026-01-05T14:30:00`` (``.fff`` allowed)."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def frame(rows: Sequence[Row]) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": [ms(r[0]) for r in rows], "symbol": [r[1] for r in rows],
         "price": [r[2] for r in rows], "volume": [r[3] for r in rows]},
        schema={"ts": pl.Int64, "symbol": pl.String, "price": pl.Float64, "volume": pl.Int64},
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def run(eng: Engine, rows: Sequence[Row], cuts: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Alerts of ``rows`` fed in batches cut before the given row numbers."""
    bounds = [0, *cuts, len(rows)]
    out: list[dict[str, Any]] = []
    for lo, hi in zip(bounds, bounds[1:]):
        alerts = eng.process(frame(rows[lo:hi]))
        out.extend(alerts.with_columns(
            pl.col("ts").dt.epoch("ms"), pl.col("bar_start").dt.epoch("ms")).to_dicts())
    return out


def at(alerts: list[dict[str, Any]]) -> list[int]:
    return [a["ts"] for a in alerts]


def test_rsi_value_is_wilders(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: rsi3, instrument: /ES, type: rsi, period: 3, condition: above, threshold: 0, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [(f"{t}{i}", "/ES", p, None) for i, p in enumerate([10, 11, 10, 12, 11])])
    # changes +1, -1, +2, -1; undefined before sample 3
    assert at(alerts) == [ms(f"{t}3"), ms(f"{t}4")]
    # sample 3: AG = (1 + 0 + 2)/3 = 1, AL = (0 + 1 + 0)/3 = 1/3, RS = 3, RSI = 100 - 100/4 = 75
    assert alerts[0]["value"] == pytest.approx(75.0, rel=1e-9)
    # sample 4 (loss 1): AG = (1*2 + 0)/3 = 2/3, AL = (1/3*2 + 1)/3 = 5/9, RS = 1.2,
    # RSI = 100 - 100/2.2 = 54.5454...
    assert alerts[1]["value"] == pytest.approx(100 - 100 / 2.2, rel=1e-9)


def test_ema_is_seeded_with_the_sma(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: ema3, instrument: /ES, type: moving_average, period: 3, average: ema, condition: above,
     threshold: -1000, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [(f"{t}{i}", "/ES", p, None) for i, p in enumerate([10, 20, 30, 70])])
    assert at(alerts) == [ms(f"{t}2"), ms(f"{t}3")]
    # EMA_2 = SMA(10, 20, 30) = 20: (30 - 20)/20*100 = 50 (an EMA seeded at 10 would give
    # 10, 15, 22.5 and 33.3%)
    assert alerts[0]["value"] == pytest.approx(50.0, rel=1e-9)
    # alpha = 2/4 = 0.5: EMA_3 = 0.5*70 + 0.5*20 = 45: (70 - 45)/45*100 = 55.5556
    # (the SMA would be 40 and 75%)
    assert alerts[1]["value"] == pytest.approx(25 / 45 * 100, rel=1e-9)


def test_an_undefined_value_breaks_a_for_run(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: bb, instrument: /ES, type: bollinger, period: 2, condition: above, threshold: -10,
     for: 2s, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [(f"{t}{i}", "/ES", p, None) for i, p in enumerate([1, 2, 3, 3, 4, 5, 6])])
    # defined (value +1) at 1s and 2s; at 3s the window (3, 3) has sd 0: undefined, the run
    # breaks. Unbroken, the run from 1s would have fired at 4s (4 - 1 >= 2); it restarts at
    # 4s and fires at 6s (6 - 4 = 2s)
    assert at(alerts) == [ms(f"{t}6")]
    assert alerts[0]["value"] == pytest.approx(1.0)  # (6 - 5.5)/0.5
    assert json.loads(alerts[0]["inputs"])["run_start_t"] == ms(f"{t}4")


@pytest.mark.parametrize("cuts", [(), (4,), (1, 2, 3, 4, 5)])
def test_rearm_needs_the_value_back_at_the_level(tmp_path: Path, cuts: tuple[int, ...]) -> None:
    eng = engine(tmp_path, """rules:
  - {id: x, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100, rearm: 5, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [(f"{t}{i}", "/ES", p, None) for i, p in enumerate([99, 101, 97, 101, 95, 101])], cuts)
    # 1s fires; 3s crosses again but 97 > 100 - 5 was not re-arming; 95 <= 95 re-arms (the
    # level is inclusive); 5s fires. The same whatever the batch cuts.
    assert at(alerts) == [ms(f"{t}1"), ms(f"{t}5")]


def test_spread_goes_stale_past_max_age(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: basis, instrument: /ES, type: spread, other: $SPX, max_age: 2s, condition: above,
     threshold: 0, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [
        (f"{t}0", "/ES", 10, None),      # $SPX not seen yet: undefined
        (f"{t}0", "$SPX", 5, None),      # 10 - 5 = 5
        (f"{t}2", "/ES", 11, None),      # 2.000s apart is not more than 2s: 11 - 5 = 6
        (f"{t}2.001", "/ES", 12, None),  # 2.001s apart: undefined
        (f"{t}2.500", "$SPX", 5, None),  # 0.499s apart: 12 - 5 = 7
    ])
    assert [(a["ts"], a["symbol"], a["value"]) for a in alerts] == [
        (ms(f"{t}0"), "/ES", 5.0), (ms(f"{t}2"), "/ES", 6.0), (ms(f"{t}2.500"), "/ES", 7.0)]


def test_vwap_anchor_follows_new_york_across_daylight_saving(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: v930, instrument: /ES, type: vwap, anchor: "09:30", condition: above, threshold: -1000, cooldown: 0s}
""")
    alerts = run(eng, [
        # Monday 2026-03-09, the first day of EDT (UTC-4): 09:30 local is 13:30 UTC
        ("2026-03-09T13:00:00", "/ES", 100, 100),  # 09:00 EDT: VWAP 100, value 0
        ("2026-03-09T14:00:00", "/ES", 110, 1),    # 10:00 EDT: a new period since 13:30 UTC
        ("2026-03-09T14:01:00", "/ES", 120, 1),
    ])
    # 14:00: only itself, VWAP 110, value 0 (with the EST offset the anchor would be 14:30
    # UTC and VWAP (10000 + 110)/101 = 100.099, value +9.89%)
    assert [a["value"] for a in alerts[:2]] == [0.0, 0.0]
    # 14:01: VWAP (110 + 120)/2 = 115: (120 - 115)/115*100 = 4.3478
    assert alerts[2]["value"] == pytest.approx(5 / 115 * 100, rel=1e-9)


def test_vwap_anchor_skipped_by_the_spring_forward_jump(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: v230, instrument: /ES, type: vwap, anchor: "02:30", condition: above, threshold: -1000, cooldown: 0s}
""")
    alerts = run(eng, [
        ("2026-03-08T06:00:00", "/ES", 100, 100),  # 01:00 EST, Sunday
        ("2026-03-08T08:00:00", "/ES", 110, 1),    # 04:00 EDT: 02:30 never happened today
    ])
    # no anchor on 2026-03-08: the period still runs from Saturday 02:30, VWAP =
    # (100*100 + 110)/101 = 100.0990, value (110 - 100.0990)/100.0990*100 = 9.8912
    assert alerts[1]["value"] == pytest.approx((110 - 10110 / 101) / (10110 / 101) * 100, rel=1e-9)


def test_vwap_anchor_shown_twice_by_the_fall_back_anchors_at_the_first(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: v130, instrument: /ES, type: vwap, anchor: "01:30", condition: above, threshold: -1000, cooldown: 0s}
""")
    alerts = run(eng, [
        # Sunday 2026-11-01: 01:30 EDT is 05:30 UTC, then 01:30 EST is 06:30 UTC
        ("2026-11-01T05:00:00", "/ES", 100, 100),  # 01:00 EDT: before the first 01:30
        ("2026-11-01T05:45:00", "/ES", 110, 1),    # after the first: a new period, VWAP 110
        ("2026-11-01T06:45:00", "/ES", 120, 1),    # after the second 01:30: same period
    ])
    assert alerts[1]["value"] == 0.0
    # VWAP (110 + 120)/2 = 115: 5/115*100 = 4.3478 (anchored at the second 01:30: 0)
    assert alerts[2]["value"] == pytest.approx(5 / 115 * 100, rel=1e-9)


def test_a_bar_is_gated_by_its_start(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: b5, instrument: /ES, type: threshold, bar: 5m, condition: above, threshold: 0,
     hours: ["09:30-16:00"], cooldown: 0s}
""")
    alerts = run(eng, [
        ("2026-01-05T20:55:00", "/ES", 1, None),  # 15:55 EST: the 15:55 bar
        ("2026-01-05T20:59:00", "/ES", 2, None),
        ("2026-01-05T21:00:30", "/ES", 3, None),  # closes the 15:55 bar (close 2) at 16:00:30
        ("2026-01-05T21:04:00", "/ES", 4, None),
        ("2026-01-05T21:05:00", "/ES", 5, None),  # closes the 16:00 bar (close 4): outside
    ])
    # the 15:55 bar starts inside [09:30, 16:00): fires at its closing tick, 16:00:30 local,
    # after the close; the 16:00 bar starts at the end of the range (half-open): no fire
    assert [(a["ts"], a["bar_start"], a["value"]) for a in alerts] == [
        (ms("2026-01-05T21:00:30"), ms("2026-01-05T20:55:00"), 2.0)]


@pytest.mark.parametrize("cuts", [(), (2,), (2, 4), (1, 2, 3, 4)])
def test_bars_closing_exactly_at_a_batch_boundary(tmp_path: Path, cuts: tuple[int, ...]) -> None:
    eng = engine(tmp_path, """rules:
  - {id: b1, instrument: /ES, type: threshold, bar: 1m, condition: above, threshold: 0, cooldown: 0s}
""")
    alerts = run(eng, [
        ("2026-01-05T14:30:00", "/ES", 1, None),
        ("2026-01-05T14:30:30", "/ES", 2, None),
        ("2026-01-05T14:31:00", "/ES", 3, None),      # first row of the second batch: closes 14:30
        ("2026-01-05T14:31:59.999", "/ES", 4, None),
        ("2026-01-05T14:32:00", "/ES", 5, None),      # closes 14:31; the 14:32 bar stays open
    ], cuts)
    # 14:30 bar: close 2, evaluated at 14:31:00; 14:31 bar: close 4 (the tick 1 ms before the
    # boundary belongs to it), evaluated at 14:32:00
    assert [(a["ts"], a["bar_start"], a["value"]) for a in alerts] == [
        (ms("2026-01-05T14:31:00"), ms("2026-01-05T14:30:00"), 2.0),
        (ms("2026-01-05T14:32:00"), ms("2026-01-05T14:31:00"), 4.0)]


def test_bars_without_ticks_do_not_exist(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: close, instrument: /ES, type: threshold, bar: 1m, condition: above, threshold: 0, cooldown: 0s}
  - {id: brk, instrument: /ES, type: breakout, period: 1, bar: 1m, condition: above, threshold: -100, cooldown: 0s}
""")
    alerts = run(eng, [
        ("2026-01-05T14:30:10", "/ES", 1, None),
        ("2026-01-05T14:33:20", "/ES", 2, None),  # closes 14:30; no 14:31 or 14:32 bar
        ("2026-01-05T14:33:40", "/ES", 3, None),
        ("2026-01-05T14:34:00", "/ES", 4, None),  # closes 14:33 (high 3, close 3)
    ])
    got = [(a["rule_id"], a["ts"], a["bar_start"], a["value"]) for a in alerts]
    assert got == [
        ("close", ms("2026-01-05T14:33:20"), ms("2026-01-05T14:30:00"), 1.0),
        ("close", ms("2026-01-05T14:34:00"), ms("2026-01-05T14:33:00"), 3.0),
        # the previous sample of the 14:33 bar is the 14:30 bar: 3 - high 1 = 2
        ("brk", ms("2026-01-05T14:34:00"), ms("2026-01-05T14:33:00"), 2.0),
    ]


def test_a_conjunction_records_every_value(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - id: both
    instrument: /ES
    type: all
    cooldown: 0s
    conditions:
      - {type: threshold, condition: above, threshold: 100}
      - {type: rate_of_change, window: 1s, condition: above, threshold: 1}
""")
    alerts = run(eng, [("2026-01-05T14:30:00", "/ES", 99, None), ("2026-01-05T14:30:01", "/ES", 102, None)])
    (alert,) = alerts  # at 14:30:00: 99 is not above 100, and there is no reference 1s back
    # value and threshold of the first condition; values: 102 and (102 - 99)/99*100 = 3.0303
    assert (alert["value"], alert["threshold"]) == (102.0, 100.0)
    values = json.loads(alert["values"])
    assert values[0] == 102.0
    assert values[1] == pytest.approx(300 / 99, rel=1e-9)


@pytest.mark.parametrize("cuts", [(), (1,), (2,)])
def test_alert_id_counts_earlier_samples_with_the_same_ts(tmp_path: Path, cuts: tuple[int, ...]) -> None:
    eng = engine(tmp_path, """rules:
  - {id: x, instrument: /ES, type: threshold, condition: above, threshold: 0, cooldown: 0s}
""")
    t0, t1 = ms("2026-01-05T14:30:00"), ms("2026-01-05T14:30:01")
    alerts = run(eng, [("2026-01-05T14:30:00", "/ES", 1, None)] * 3 + [("2026-01-05T14:30:01", "/ES", 1, None)], cuts)
    # three samples at 14:30:00: K = 0, 1, 2 however the batches are cut; 14:30:01 starts at 0
    assert [a["alert_id"] for a in alerts] == [f"x@{t0}#0", f"x@{t0}#1", f"x@{t0}#2", f"x@{t1}#0"]


def test_bar_cooldown_is_measured_between_bar_starts(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: b1, instrument: /ES, type: threshold, bar: 1m, condition: above, threshold: 0, cooldown: 2m}
""")
    alerts = run(eng, [
        ("2026-01-05T14:30:00", "/ES", 1, None),
        ("2026-01-05T14:31:50", "/ES", 2, None),  # closes 14:30: fires
        ("2026-01-05T14:32:00", "/ES", 3, None),  # closes 14:31: 1m after 14:30, cooling down
        ("2026-01-05T14:33:30", "/ES", 4, None),  # closes 14:32: 2m after 14:30 -> fires
        ("2026-01-05T14:34:00", "/ES", 5, None),  # closes 14:33: 1m after 14:32, cooling down
    ])
    # by closing-tick time the second fire would be 14:33:30 - 14:31:50 = 1m40s < 2m: no fire
    assert [(a["ts"], a["bar_start"]) for a in alerts] == [
        (ms("2026-01-05T14:31:50"), ms("2026-01-05T14:30:00")),
        (ms("2026-01-05T14:33:30"), ms("2026-01-05T14:32:00"))]


def test_zero_tests_are_exact_even_after_a_huge_price_left_the_window(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: bb, instrument: /ES, type: bollinger, period: 3, condition: above, threshold: -1e12, cooldown: 0s}
  - {id: ma, instrument: /ES, type: moving_average, period: 2, condition: above, threshold: -1e12, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    prices = [1e12 + 0.5, 7.3, 6000.1, 6000.1, 6000.1, -1.5, 1.5]
    alerts = run(eng, [(f"{t}{i}", "/ES", p, None) for i, p in enumerate(prices)])
    got = {(a["rule_id"], a["ts"]) for a in alerts}
    # bollinger: windows 2..4 of 6000.1, 6000.1, 6000.1 (at 4s) have s = 0 exactly: undefined,
    # however large a price once went through a running sum
    assert ("bb", ms(f"{t}4")) not in got and ("bb", ms(f"{t}3")) in got
    # 7.3, 6000.1, 6000.1 at 3s: mean 4002.5, s = sqrt((3995.2^2 + 2*1997.6^2)/3) = 2825.03,
    # value 1997.6/2825.03 = 0.70711
    (bb3,) = [a for a in alerts if (a["rule_id"], a["ts"]) == ("bb", ms(f"{t}3"))]
    assert bb3["value"] == pytest.approx(1997.6 / (((3995.2**2 + 2 * 1997.6**2) / 3) ** 0.5), rel=1e-9)
    # SMA(2) of -1.5, 1.5 at 6s is exactly 0: undefined; at 5s (6000.1, -1.5): MA 2999.3
    assert ("ma", ms(f"{t}6")) not in got
    (ma5,) = [a for a in alerts if (a["rule_id"], a["ts"]) == ("ma", ms(f"{t}5"))]
    assert ma5["value"] == pytest.approx((-1.5 - 2999.3) / 2999.3 * 100, rel=1e-9)


def test_spread_time_may_step_back_and_cooldown_still_holds(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: s, instrument: /ES, type: spread, other: $SPX, condition: above, threshold: 0, cooldown: 0s}
""")
    t = "2026-01-05T14:30:0"
    alerts = run(eng, [
        (f"{t}1", "$SPX", 5, None),
        (f"{t}5", "/ES", 10, None),   # 10 - 5 = 5: fires, t = 5s
        (f"{t}3", "$SPX", 5, None),   # arrives later with t = 3s: 3 - 5 < 0, no fire
        (f"{t}6", "/ES", 10, None),   # 6 - 5 >= 0: fires
    ])
    assert at(alerts) == [ms(f"{t}5"), ms(f"{t}6")]
    assert {a["symbol"] for a in alerts} == {"/ES"}


def test_alert_id_k_of_a_spread_counts_both_symbols_samples(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: s, instrument: /ES, type: spread, other: $SPX, condition: above, threshold: 0, cooldown: 0s}
""")
    t0 = ms("2026-01-05T14:30:00")
    rows: list[Row] = [("2026-01-05T14:30:00", "/ES", 10, None), ("2026-01-05T14:30:00", "$SPX", 5, None),
                       ("2026-01-05T14:30:00", "/ES", 11, None)]
    # the first sample (/ES alone) is undefined but still counts: the fires are K = 1 and 2
    assert [a["alert_id"] for a in run(eng, rows, (2,))] == [f"s@{t0}#1", f"s@{t0}#2"]


def test_null_volumes_in_bars_and_vwap(tmp_path: Path) -> None:
    eng = engine(tmp_path, """rules:
  - {id: vs, instrument: /ES, type: volume_spike, period: 1, bar: 1m, condition: above, threshold: 0.5, cooldown: 0s}
  - {id: bh, instrument: /ES, type: breakout, period: 1, bar: 1m, condition: above, threshold: -100, cooldown: 0s}
  - {id: vw, instrument: /ES, type: vwap, condition: above, threshold: -1e9, cooldown: 0s}
""")
    alerts = run(eng, [
        ("2026-01-05T14:30:00", "/ES", 10, 5),
        ("2026-01-05T14:30:10", "/ES", 20, None),
        ("2026-01-05T14:30:20", "/ES", 5, 5),
        ("2026-01-05T14:30:30", "/ES", 12, None),  # 14:30 bar: H 20, L 5, C 12, volume 10
        ("2026-01-05T14:31:00", "/ES", 15, None),  # 14:31 bar: volume null
        ("2026-01-05T14:32:00", "/ES", 15, 30),    # 14:32 bar: volume 30
        ("2026-01-05T14:33:00", "/ES", 1, 1),
    ])
    bars = sorted((a["rule_id"], a["bar_start"], a["value"]) for a in alerts if a["rule_id"] != "vw")
    assert bars == [
        ("bh", ms("2026-01-05T14:31:00"), -5.0),  # 15 - prior high 20 (the 14:30 high, not its close 12)
        ("bh", ms("2026-01-05T14:32:00"), 0.0),   # 15 - 15
        # the 14:31 bar's volume is null: undefined; the 14:32 bar skips it: 30 / 10 = 3
        ("vs", ms("2026-01-05T14:32:00"), 3.0),
    ]
    # VWAP since 00:00 New York: 14:30:00 VWAP 10 -> 0; 14:30:10 (null volume, still a value)
    # 20 vs 10 -> +100%; 14:30:20 VWAP (50 + 25)/10 = 7.5 -> (5 - 7.5)/7.5 = -33.33%
    vw = [a["value"] for a in alerts if a["rule_id"] == "vw"]
    assert vw[:3] == [0.0, 100.0, pytest.approx(-100 / 3, rel=1e-9)]
