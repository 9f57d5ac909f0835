"""One rules folder with many different mistakes: every one is reported, each at its place.

This is what ``tradeassist validate`` prints (``PATH:LINE:COLUMN: message``), so the
expected lines are written out in full: they are the user-visible contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError

from .conftest import WriteProject

pytestmark = pytest.mark.usefixtures("yaml_path")  # fast parse and round trip alike

CONFIG = """\
instruments:
  - symbol: /ES
    type: future
rules_dir: rules.d
batch:
  max_size: 0
"""

SYNTAX_ERROR = """\
rules:
  - id: broken
    type: threshold
    condition: [above
    threshold: 1
"""

FUTURES = """\
rules:
  - id: es.typo
    type: threshold
    instrument: /ES
    condition: above
    threshold: 6000
    cooldwn: 5m
  - id: es.wrong_type
    type: threshold
    instrument: /ES
    condition: above
    threshold: high
  - id: es.no_threshold
    type: threshold
    instrument: /ES
    condition: below
  - id: es.window
    type: threshold
    instrument: /ES
    condition: above
    threshold: 6010
    window: 30s
  - id: es.roc
    type: rate_of_change
    instrument: /ES
    condition: above
    threshold: 0.1
    window: 30 seconds
"""

MORE = """\
rules:
  - id: es.typo
    type: threshold
    instrument: /ES
    condition: below
    threshold: 5900
  - id: es.undeclared
    type: threshold
    instrument: ES
    condition: above
    threshold: 6000
  - id: es.volume.dead
    type: volume_spike
    instrument: /ES
    condition: below
    threshold: 0
    period: 20
  - id: es.kind
    type: treshold
    instrument: /ES
    condition: above
    threshold: 1
  - id: es.period
    type: volume_spike
    instrument: /ES
    condition: above
    threshold: 3
    period: 0
"""


def expected_lines(root: Path) -> set[str]:
    cfg = f"{root}/config.yaml"
    a = f"{root}/rules.d/a_broken.yaml"
    b = f"{root}/rules.d/b_futures.yaml"
    c = f"{root}/rules.d/c_more.yaml"
    return {
        f"{cfg}:6:13: max_size: must be >= 1, got 0",
        f"{a}:5:14: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence started at line 4, column 16)",
        f"{b}:2:9: duplicate rule id 'es.typo' (also defined at {c}:2:9)",
        f"{b}:7:5: unknown field 'cooldwn' (did you mean 'cooldown'?)",
        f"{b}:12:16: threshold: must be a number, got a string 'high'",
        f"{b}:13:5: missing required field 'threshold'",
        f"{b}:22:5: 'window' is not a field of a threshold rule (it belongs to rate_of_change rules)",
        f"{b}:28:13: window: invalid duration '30 seconds': use a number with a unit,"
        " e.g. 1500ms, 30s, 5m, 1h, 1d",
        f"{c}:2:9: duplicate rule id 'es.typo' (also defined at {b}:2:9)",
        f"{c}:9:17: unknown instrument 'ES' (did you mean '/ES'?):"
        " declare it under 'instruments:' in the config or a rules file",
        f"{c}:16:16: this rule can never fire: a volume_spike value (volume / mean volume)"
        " is never negative, so it is never below 0",
        f"{c}:19:11: unknown rule type 'treshold' (did you mean 'threshold'?)",
        f"{c}:28:13: period: must be >= 1, got 0",
    }


@pytest.fixture
def broken_project(write_project: WriteProject) -> Path:
    return write_project(
        config=CONFIG,
        rules={"a_broken.yaml": SYNTAX_ERROR, "b_futures.yaml": FUTURES, "c_more.yaml": MORE},
    )


def test_every_mistake_in_every_file_is_reported_at_its_place(broken_project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(broken_project))
    printed = str(caught.value).splitlines()
    assert set(printed) == expected_lines(broken_project.parent)
    assert len(printed) == len(expected_lines(broken_project.parent))  # nothing said twice


def test_problems_come_sorted_by_file_then_position(broken_project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(broken_project)
    keys = [(p.path, p.line, p.column) for p in caught.value.problems]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("rule_lines", "expected"),
    [
        pytest.param(
            ["    type: volume_spike", "    period: 20", "    condition: crosses_below", "    threshold: 0"],
            "7:16: this rule can never fire: a volume_spike value (volume / mean volume) is never "
            "negative, so it never crosses below 0",
            id="crosses_below-zero",
        ),
        pytest.param(
            ["    type: volume_spike", "    period: 20", "    condition: crosses_above", "    threshold: -0.5"],
            "7:16: this rule can never fire: a volume_spike value (volume / mean volume) is never "
            "negative, so it is never at or below -0.5, which crossing above -0.5 needs first",
            id="crosses_above-negative",
        ),
        pytest.param(
            ["    type: volume_spike", "    period: 20", "    condition: above", "    threshold: -1"],
            "7:16: this rule fires on every tick: a volume_spike value (volume / mean volume) is "
            "never negative, so it is always above -1 (did you mean a positive threshold?)",
            id="above-negative",
        ),
        pytest.param(
            ["    type: rate_of_change", "    window: 5m", "    condition: crosses_below", "    threshold"],
            "2:5: missing required field 'threshold'",
            id="roc-missing-threshold",
        ),
        pytest.param(
            ["    type: rate_of_change", "    period: 20", "    condition: above", "    threshold: 1"],
            "5:5: 'period' is not a field of a rate_of_change rule "
            "(it belongs to bollinger, breakout, moving_average, rsi and volume_spike rules)",
            id="period-on-roc",
        ),
        pytest.param(
            ["    type: threshold", "    condition: abov", "    threshold: 1", "    severity: high"],
            "5:16: condition: 'abov' is not one of above, below, crosses_above, crosses_below "
            "(did you mean 'above'?)",
            id="bad-condition",
        ),
        pytest.param(
            ["    type: threshold", "    condition: above", "    threshold: 1", "    cooldown: 30"],
            "7:15: cooldown: invalid duration 30: write it as a string with a unit, e.g. 30s, 5m, 1500ms",
            id="cooldown-without-unit",
        ),
        pytest.param(
            ["    type: threshold", "    condition: above", "    threshold: 1", "    active: yes"],
            "7:13: active: must be true or false, got a string 'yes'",
            id="yaml-1.2-yes-is-text",
        ),
        pytest.param(
            ["    type: threshold", "    condition: above", "    threshold: 1", "    name: 2026"],
            "7:11: name: must be a string, got an integer 2026 (put it in quotes)",
            id="number-as-name",
        ),
        pytest.param(
            ["    type: threshold", "    condition: above", "    threshold: .inf", "    name: x"],
            "6:16: threshold: must be a finite number",
            id="infinite-threshold",
        ),
    ],
)
def test_single_rule_mistakes(write_project: WriteProject, rule_lines: list[str], expected: str) -> None:
    """Each case: a rule at lines 2-7 of x.yaml, id/instrument first, then ``rule_lines``."""
    text = "\n".join(["rules:", "  - id: r1", "    instrument: /ES", *rule_lines]) + "\n"
    if text.endswith("    threshold\n"):  # a missing field: drop the placeholder line
        text = text.removesuffix("    threshold\n")
    config = write_project(rules={"x.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = [str(p) for p in caught.value.problems]
    rules_file = config.parent / "rules.d" / "x.yaml"
    assert f"{rules_file}:{expected}" in problems
