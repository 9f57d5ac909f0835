"""``tradeassist validate`` on mistakes in bars, indicators, spreads, modifiers and conjunctions.

Each test writes a small project, runs the real command line on it and pins the exact
lines a user reads, ``PATH:LINE:COLUMN: message``: the line and column of the key or
value to change, and a message that says what would be right.  The rules are written in
block style so that the positions can be read off the text (line 1 is ``rules:``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError

from ..cli_helpers import ROOT, tradeassist
from .conftest import WriteProject

CONFIG = """\
instruments:
  - symbol: /ES
    type: future
  - symbol: $SPX
    type: index
  - symbol: /NQ
    type: future
rules_dir: rules.d
"""

RULES = "rules.d/x.yaml"
CONDITIONS = "bollinger, breakout, ma_cross, moving_average, rate_of_change, rsi, threshold, volume_spike, vwap"


def validate(write_project: WriteProject, rules: str, config: str = CONFIG) -> list[str]:
    """What ``validate`` printed for a project with one rules file, asserting it failed cleanly."""
    path = write_project(config=config, rules={"x.yaml": rules})
    result = tradeassist("validate", "config.yaml", cwd=path.parent)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout.splitlines()


def threshold_rule(*extra: str, condition: str = "above") -> str:
    """A valid threshold rule on /ES plus ``extra`` lines; its extra lines start at line 7."""
    return "\n".join(
        [
            "rules:",
            "  - id: r",
            "    instrument: /ES",
            "    type: threshold",
            f"    condition: {condition}",
            "    threshold: 1",
            *extra,
            "",
        ]
    )


def conjunction(*conditions: str, extra: tuple[str, ...] = ()) -> str:
    """A ``type: all`` rule on /ES: ``extra`` lines from line 5, then ``conditions:`` and one
    flow mapping per condition."""
    return "\n".join(
        [
            "rules:",
            "  - id: c",
            "    instrument: /ES",
            "    type: all",
            *extra,
            "    conditions:",
            *(f"      - {c}" for c in conditions),
            "",
        ]
    )


RSI_BELOW = "{type: rsi, period: 14, condition: below, threshold: 30}"
SMA_ABOVE = "{type: moving_average, period: 200, condition: above, threshold: 0}"


# --------------------------------------------------------------------------- bars


def test_a_bar_that_does_not_divide_a_day(write_project: WriteProject) -> None:
    assert validate(write_project, threshold_rule("    bar: 7m")) == [
        f"{RULES}:7:10: bar: must divide 24h exactly (e.g. 1m, 5m, 15m, 1h); 7m does not"
    ]


def test_bar_on_vwap(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: v
        instrument: /ES
        type: vwap
        condition: above
        threshold: 0
        bar: 5m
    """
    assert validate(write_project, rules) == [
        f"{RULES}:7:10: bar: cannot be used with type vwap: vwap is evaluated on ticks only; remove bar"
    ]


def test_bar_on_spread(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: s
        instrument: /ES
        type: spread
        other: $SPX
        condition: above
        threshold: 15
        bar: 1m
    """
    assert validate(write_project, rules) == [
        f"{RULES}:8:10: bar: cannot be used with type spread: spread is evaluated on the ticks of "
        "both instruments; remove bar"
    ]


def test_bar_on_a_conjunction_holding_vwap(write_project: WriteProject) -> None:
    rules = conjunction(RSI_BELOW, "{type: vwap, condition: above, threshold: 0}", extra=("    bar: 5m",))
    assert validate(write_project, rules) == [
        f"{RULES}:5:10: bar: cannot be used with a vwap condition (condition 2): vwap is evaluated on ticks only"
    ]


# --------------------------------------------------------------------------- types and parameters


def test_ma_cross_fast_not_below_slow(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: m
        instrument: /NQ
        type: ma_cross
        fast: 21
        slow: 9
        condition: crosses_above
        threshold: 0
      - id: m2
        instrument: /NQ
        type: ma_cross
        fast: 9
        slow: 9
        condition: crosses_above
        threshold: 0
    """
    assert validate(write_project, rules) == [
        f"{RULES}:5:11: fast: must be less than slow (9), got 21",
        f"{RULES}:12:11: fast: must be less than slow (9), got 9",
    ]


def test_unknown_type_suggests_the_nearest(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: r
        instrument: /ES
        type: rsl
        condition: above
        threshold: 70
    """
    assert validate(write_project, rules) == [f"{RULES}:4:11: unknown rule type 'rsl' (did you mean 'rsi'?)"]


def test_a_parameter_on_the_wrong_type(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: t
        instrument: /ES
        type: threshold
        condition: above
        threshold: 1
        period: 14
      - id: r
        instrument: /ES
        type: rsi
        condition: above
        threshold: 70
        window: 5m
    """
    assert validate(write_project, rules) == [
        f"{RULES}:7:5: 'period' is not a field of a threshold rule "
        "(it belongs to bollinger, breakout, moving_average, rsi and volume_spike rules)",
        f"{RULES}:13:5: 'window' is not a field of an rsi rule (it belongs to rate_of_change rules)",
    ]


def test_period_zero(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: r
        instrument: /ES
        type: rsi
        period: 0
        condition: above
        threshold: 70
    """
    assert validate(write_project, rules) == [f"{RULES}:5:13: period: must be >= 1, got 0"]


def test_bollinger_period_one(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: b
        instrument: /ES
        type: bollinger
        period: 1
        condition: above
        threshold: 2
    """
    assert validate(write_project, rules) == [f"{RULES}:5:13: period: must be >= 2, got 1"]


def test_vwap_anchor_without_leading_zero(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: v
        instrument: /ES
        type: vwap
        anchor: "9:30"
        condition: above
        threshold: 0
    """
    assert validate(write_project, rules) == [
        f"{RULES}:5:13: anchor: must be a local time HH:MM from 00:00 to 23:59 (in quotes), got '9:30'"
    ]


def test_spread_factor_zero(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: s
        instrument: /ES
        type: spread
        other: $SPX
        factor: 0
        condition: above
        threshold: 15
    """
    assert validate(write_project, rules) == [f"{RULES}:6:13: factor: must not be 0"]


def test_spread_other_undeclared_or_the_instrument_itself(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: s
        instrument: /ES
        type: spread
        other: SPX
        condition: above
        threshold: 15
      - id: s2
        instrument: /ES
        type: spread
        other: /ES
        condition: above
        threshold: 15
    """
    assert validate(write_project, rules) == [
        f"{RULES}:5:12: other: unknown instrument 'SPX' (did you mean '$SPX'?): "
        "declare it under 'instruments:' in the config or a rules file",
        f"{RULES}:11:12: other: must be a second instrument, not this rule's own instrument '/ES'",
    ]


# --------------------------------------------------------------------------- modifiers


def test_for_with_a_crossing(write_project: WriteProject) -> None:
    assert validate(write_project, threshold_rule("    for: 30s", condition="crosses_above")) == [
        f"{RULES}:7:10: for: cannot be used with crosses_above: a crossing happens at one sample; "
        "use above or below with for"
    ]


def test_for_on_a_conjunction_with_a_crossing_condition(write_project: WriteProject) -> None:
    rules = conjunction(RSI_BELOW, "{type: threshold, condition: crosses_above, threshold: 6000}", extra=("    for: 1m",))
    assert validate(write_project, rules) == [
        f"{RULES}:5:10: for: needs every condition to be above or below, but condition 2 is "
        "crosses_above (a crossing happens at one sample)"
    ]


def test_rearm_negative(write_project: WriteProject) -> None:
    assert validate(write_project, threshold_rule("    rearm: -1")) == [f"{RULES}:7:12: rearm: must be >= 0, got -1"]


def test_unknown_calendar_suggests_the_nearest(write_project: WriteProject) -> None:
    assert validate(write_project, threshold_rule("    calendar: XNSY")) == [
        f"{RULES}:7:15: calendar: unknown calendar 'XNSY'; did you mean XNYS?"
    ]


def test_malformed_hours_each_reported_at_its_entry(write_project: WriteProject) -> None:
    lines = validate(write_project, threshold_rule('    hours: ["25:00-26:00", "09:30-09:30", "9-17"]'))
    assert lines == [
        f"{RULES}:7:13: hours[0]: invalid hours '25:00-26:00': hours are 00-23 (24:00 allowed as an end)",
        f"{RULES}:7:28: hours[1]: invalid hours '09:30-09:30': the start equals the end (an empty range); "
        "for the whole day write 00:00-24:00",
        f"{RULES}:7:43: hours[2]: invalid hours '9-17': write HH:MM-HH:MM, e.g. 09:30-16:00 "
        "(an end before the start spans midnight, e.g. 18:00-09:30)",
    ]


def test_unknown_weekdays(write_project: WriteProject) -> None:
    assert validate(write_project, threshold_rule("    days: [mon, Tue, tues]")) == [
        f"{RULES}:7:17: days[1]: unknown weekday 'Tue'; use mon, tue, wed, thu, fri, sat, sun (did you mean tue?)",
        f"{RULES}:7:22: days[2]: unknown weekday 'tues'; use mon, tue, wed, thu, fri, sat, sun (did you mean tue?)",
    ]


def test_instrument_timezone_not_an_iana_name(write_project: WriteProject) -> None:
    config = """\
    instruments:
      - symbol: /ES
        type: future
        timezone: America/New_Yrok
      - symbol: /GC
        type: future
        timezone: Mars/Olympus
    rules_dir: rules.d
    """
    path = write_project(config=config, rules={"x.yaml": threshold_rule()})
    result = tradeassist("validate", "config.yaml", cwd=path.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "config.yaml:4:15: timezone: unknown timezone 'America/New_Yrok'; did you mean America/New_York?",
        "config.yaml:7:15: timezone: unknown timezone 'Mars/Olympus'; use an IANA name such as America/New_York, "
        "America/Chicago, Europe/London or UTC",
    ]


# --------------------------------------------------------------------------- conjunctions


def test_conjunction_with_one_condition(write_project: WriteProject) -> None:
    assert validate(write_project, conjunction(RSI_BELOW)) == [
        f"{RULES}:6:7: conditions: a conjunction needs 2 to 8 conditions, got 1"
    ]


def test_conjunction_with_nine_conditions(write_project: WriteProject) -> None:
    nine = [f"{{type: rsi, period: 14, condition: below, threshold: {20 + i}}}" for i in range(9)]
    assert validate(write_project, conjunction(*nine)) == [
        f"{RULES}:6:7: conditions: a conjunction needs 2 to 8 conditions, got 9"
    ]


def test_conjunction_holding_a_spread(write_project: WriteProject) -> None:
    rules = conjunction(RSI_BELOW, "{type: spread, other: $SPX, condition: above, threshold: 15}")
    assert validate(write_project, rules) == [
        f"{RULES}:7:16: a conjunction's conditions cannot be of type spread; allowed: {CONDITIONS}"
    ]


def test_conjunction_holding_a_conjunction(write_project: WriteProject) -> None:
    rules = conjunction(RSI_BELOW, f"{{type: all, conditions: [{RSI_BELOW}, {SMA_ABOVE}]}}")
    assert validate(write_project, rules) == [
        f"{RULES}:7:16: a conjunction's conditions cannot be of type all (conjunctions do not nest: "
        f"list every condition in one conditions list); allowed: {CONDITIONS}"
    ]


def test_rule_fields_inside_a_condition(write_project: WriteProject) -> None:
    rules = conjunction(
        "{type: rsi, period: 14, condition: below, threshold: 30, cooldown: 5m}",
        "{type: moving_average, period: 200, condition: above, threshold: 0, bar: 5m}",
        "{type: rsi, condition: above, threshold: 20, other: $SPX}",
    )
    assert validate(write_project, rules) == [
        f"{RULES}:6:66: 'cooldown' cannot be set on one condition of a conjunction: it applies to the "
        "whole rule, so write it at the rule level (a condition holds only type, condition, threshold and period)",
        f"{RULES}:7:77: 'bar' cannot be set on one condition of a conjunction: it applies to the "
        "whole rule, so write it at the rule level "
        "(a condition holds only type, condition, threshold, period and average)",
        f"{RULES}:8:54: 'other' is a parameter of spread, which cannot be a condition of a conjunction "
        "(an rsi condition holds only type, condition, threshold and period)",
    ]


def test_condition_and_threshold_at_the_conjunction_level(write_project: WriteProject) -> None:
    rules = conjunction(RSI_BELOW, SMA_ABOVE, extra=("    condition: above", "    threshold: 1", "    period: 14"))
    assert validate(write_project, rules) == [
        f"{RULES}:5:5: 'condition' is not a field of an all rule: a conjunction has no condition of its own, "
        "each of its conditions has one",
        f"{RULES}:6:5: 'threshold' is not a field of an all rule: a conjunction has no threshold of its own, "
        "each of its conditions has one",
        f"{RULES}:7:5: 'period' is not a field of an all rule: it is a parameter of a condition's type "
        "(bollinger, breakout, moving_average, rsi and volume_spike), so write it inside that condition",
    ]


def test_mistakes_inside_conditions_are_located_in_the_condition(write_project: WriteProject) -> None:
    rules = conjunction(
        "{type: ma_cross, fast: 21, slow: 9, condition: above, threshold: 0}",
        "{type: rsi, period: 0, condition: above, threshold: 0}",
        "{type: rsl, condition: above, threshold: 0}",
        "{type: threshold, window: 5m, condition: above, threshold: 0}",
    )
    assert validate(write_project, rules) == [
        f"{RULES}:6:32: fast: must be less than slow (9), got 21",
        f"{RULES}:7:29: period: must be >= 1, got 0",
        f"{RULES}:8:16: unknown condition type 'rsl' (did you mean 'rsi'?)",
        f"{RULES}:9:27: 'window' is not a field of a threshold condition (it belongs to rate_of_change conditions)",
    ]


# --------------------------------------------------------------------------- all at once


def test_every_mistake_of_one_file_is_reported(write_project: WriteProject) -> None:
    """One file, many rules, one mistake each: one run reports them all, in file order."""
    rules = """\
    rules:
      - {id: a, instrument: /ES, type: threshold, condition: above, threshold: 1, bar: 7m}
      - {id: b, instrument: /ES, type: vwap, condition: above, threshold: 0, bar: 5m}
      - {id: c, instrument: /NQ, type: ma_cross, fast: 21, slow: 9, condition: above, threshold: 0}
      - {id: d, instrument: /ES, type: threshold, condition: crosses_below, threshold: 1, for: 30s}
      - {id: e, instrument: /ES, type: threshold, condition: above, threshold: 1, calendar: XNSY}
      - {id: f, instrument: /ES, type: spread, other: /ES, condition: above, threshold: 1}
      - {id: g, instrument: /ES, type: threshold, condition: above, threshold: 1, hours: ["9-17"]}
      - {id: h, instrument: /ES, type: threshold, condition: above, threshold: 1, days: [Tue]}
      - {id: i, instrument: /ES, type: all, conditions: [{type: spread, other: $SPX, condition: above, threshold: 1}, {type: all}]}
      - {id: j, instrument: /ES, type: rsi, condition: above, threshold: 1, rearm: -1}
      - {id: k, instrument: /ES, type: spread, other: $SPX, condition: above, threshold: 1, factor: 0}
    """
    lines = validate(write_project, rules)
    assert lines == [
        f"{RULES}:2:84: bar: must divide 24h exactly (e.g. 1m, 5m, 15m, 1h); 7m does not",
        f"{RULES}:3:79: bar: cannot be used with type vwap: vwap is evaluated on ticks only; remove bar",
        f"{RULES}:4:52: fast: must be less than slow (9), got 21",
        f"{RULES}:5:92: for: cannot be used with crosses_below: a crossing happens at one sample; "
        "use above or below with for",
        f"{RULES}:6:89: calendar: unknown calendar 'XNSY'; did you mean XNYS?",
        f"{RULES}:7:51: other: must be a second instrument, not this rule's own instrument '/ES'",
        f"{RULES}:8:87: hours[0]: invalid hours '9-17': write HH:MM-HH:MM, e.g. 09:30-16:00 "
        "(an end before the start spans midnight, e.g. 18:00-09:30)",
        f"{RULES}:9:86: days[0]: unknown weekday 'Tue'; use mon, tue, wed, thu, fri, sat, sun (did you mean tue?)",
        f"{RULES}:10:61: a conjunction's conditions cannot be of type spread; allowed: {CONDITIONS}",
        f"{RULES}:10:122: a conjunction's conditions cannot be of type all (conjunctions do not nest: "
        f"list every condition in one conditions list); allowed: {CONDITIONS}",
        f"{RULES}:11:80: rearm: must be >= 0, got -1",
        f"{RULES}:12:97: factor: must not be 0",
    ]


# --------------------------------------------------------------------------- the shipped examples


def test_the_shipped_indicator_examples_are_valid(tmp_path: Path) -> None:
    """Every example of ``rules.d/indicators.yaml``, alone with the shipped config's instruments."""
    examples = ROOT / "rules.d" / "indicators.yaml"
    rules = YAML(typ="safe").load(examples.read_text(encoding="utf-8"))["rules"]
    assert {r["type"] for r in rules} >= {
        "moving_average", "ma_cross", "rsi", "breakout", "bollinger", "vwap", "spread", "all",
    }
    config = YAML(typ="safe").load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    project = tmp_path / "project"
    (project / "rules.d").mkdir(parents=True)
    shutil.copy(examples, project / "rules.d" / "indicators.yaml")
    yaml = YAML(typ="safe")
    yaml.dump({"instruments": config["instruments"], "rules_dir": "rules.d"}, project / "config.yaml")
    result = tradeassist("validate", "config.yaml", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert f"{len(rules)} rules" in result.stderr, result.stderr


def test_whole_rule_mistakes_are_not_hidden_by_a_field_mistake(write_project: WriteProject) -> None:
    """``bar``/``for`` against the type and a conjunction's size are reported with the rule's other
    mistakes, not only once those are fixed."""
    rules = """\
    rules:
      - id: v
        instrument: /ES
        type: vwap
        condition: crosses_above
        threshold: 0
        bar: 5m
        for: 1m
        cooldwn: 5m
      - id: c
        instrument: /ES
        type: all
        for: 1m
        conditions:
          - {type: rsi, period: 0, condition: crosses_below, threshold: 30}
    """
    assert validate(write_project, rules) == [
        f"{RULES}:7:10: bar: cannot be used with type vwap: vwap is evaluated on ticks only; remove bar",
        f"{RULES}:8:10: for: cannot be used with crosses_above: a crossing happens at one sample; "
        "use above or below with for",
        f"{RULES}:9:5: unknown field 'cooldwn' (did you mean 'cooldown'?)",
        f"{RULES}:13:10: for: needs every condition to be above or below, but condition 1 is crosses_below "
        "(a crossing happens at one sample)",
        f"{RULES}:15:7: conditions: a conjunction needs 2 to 8 conditions, got 1",
        f"{RULES}:15:29: period: must be >= 1, got 0",
    ]


def test_gates_written_as_one_value_a_range_or_nothing(write_project: WriteProject) -> None:
    rules = """\
    rules:
      - id: a
        instrument: /ES
        type: threshold
        condition: above
        threshold: 1
        hours: "09:30-16:00"
        days: mon
      - id: b
        instrument: /ES
        type: threshold
        condition: above
        threshold: 1
        hours: []
        days: [mon-fri, fri-mon]
      - id: c
        instrument: /ES
        type: threshold
        condition: above
        threshold: 1
        days: []
        calendar: true
    """
    assert validate(write_project, rules) == [
        f'{RULES}:7:12: hours: must be a list, got a string \'09:30-16:00\' (write hours: ["09:30-16:00"])',
        f"{RULES}:8:11: days: must be a list, got a string 'mon' (write days: [mon])",
        f"{RULES}:14:12: hours: must list at least one range; leave it out to fire at any time",
        f"{RULES}:15:12: days[0]: unknown weekday 'mon-fri': list the days one by one, e.g. [mon, tue, wed, thu, fri]",
        f"{RULES}:15:21: days[1]: unknown weekday 'fri-mon': list the days one by one, e.g. [fri, sat, sun, mon]",
        f"{RULES}:21:11: days: must list at least one day; leave it out to fire at any time",
        f"{RULES}:22:15: calendar: must be an exchange calendar code such as XNYS or CMES, got true",
    ]


def test_the_fast_and_the_reference_parse_report_the_same(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Block style takes the fast line reader, flow style ruamel: the lines must not depend on it."""
    block = conjunction(
        "{type: rsi, period: 0, condition: crosses_below, threshold: 30}", extra=("    for: 1m", "    bar: 7m")
    )
    flow = "rules:\n  - {id: f, instrument: /ES, type: vwap, condition: crosses_above, threshold: 0, bar: 5m, for: 1m}\n"
    path = write_project(config=CONFIG, rules={"a.yaml": block, "b.yaml": flow, "c.yaml": threshold_rule("    days: []")})
    monkeypatch.chdir(path.parent)
    seen = []
    for fast in (True, False):
        with pytest.raises(ConfigError) as caught:
            load_config("config.yaml", fast=fast)
        seen.append(sorted(str(p) for p in caught.value.problems))
    assert seen[0] == seen[1]
    assert len(seen[0]) == 7, seen[0]


def test_an_unknown_field_lists_the_fields_as_they_are_written(write_project: WriteProject) -> None:
    """The allowed list names ``for`` as a rule file spells it, not the model's ``for_``."""
    out = validate(write_project, threshold_rule("    zzzzzz: 1"))
    assert len(out) == 1 and out[0].startswith(f"{RULES}:7:5: unknown field 'zzzzzz' (allowed: "), out
    allowed = out[0].partition("(allowed: ")[2].rstrip(")").split(", ")
    assert "for" in allowed and "for_" not in allowed and "rearm" in allowed
