"""``tradeassist test``: rule unit tests pass, fail with a readable diff, and are validated like rule files."""

from __future__ import annotations

from pathlib import Path

from tradeassist_runner.config.loader import find_rule_files

from ..cli_helpers import ROOT, tradeassist

RULES = """\
instruments:
  - {symbol: /ES, type: future}
rules:
  - {id: es.cross, instrument: /ES, type: threshold, condition: crosses_above, threshold: 100, cooldown: 10s}
  - {id: es.roc, instrument: /ES, type: rate_of_change, window: 30s, condition: above, threshold: 1, cooldown: 0s}
  - {id: es.vol, instrument: /ES, type: volume_spike, period: 3, condition: above, threshold: 2, cooldown: 0s}
"""


def project(tmp_path: Path, tests: str) -> Path:
    (tmp_path / "rules.d" / "tests").mkdir(parents=True)
    (tmp_path / "rules.d" / "es.yaml").write_text(RULES)
    test_file = tmp_path / "rules.d" / "tests" / "es.yaml"
    test_file.write_text("rules_dir: ..\n" + tests)
    return test_file


PASSING = """\
tests:
  - name: cross, cooldown, cross again
    ticks:
      /ES: "99 101 99 101 @+10s 99.5 100.5"
    expect:
      - {rule: es.cross, at: "14:30:01", value: 101}
      - {rule: es.cross, at: "14:30:14"}
  - name: volume spike and rate of change
    ticks:
      /ES: "50:10x3 50:25 @+30s 51"
    expect:
      - {rule: es.vol, at: "+3s", value: 2.5}
      - {rule: es.roc, at: "14:30:33", value: 2}
"""


def test_passing_tests_exit_0(tmp_path: Path) -> None:
    test_file = project(tmp_path, PASSING)
    result = tradeassist("test", test_file, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS ") == 2
    assert "2 tests, 0 failed" in result.stderr


def test_a_broken_test_fails_with_a_diff_of_missing_and_unexpected_alerts(tmp_path: Path) -> None:
    broken = PASSING.replace('at: "14:30:14"', 'at: "14:30:13"').replace("value: 2.5", "value: 2.4")
    test_file = project(tmp_path, broken)
    result = tradeassist("test", "rules.d/tests/", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert "FAIL rules.d/tests/es.yaml:3:5: cross, cooldown, cross again (2 fired, 2 expected)" in out
    assert "      es.cross  /ES  2026-01-05T14:30:01.000Z  value 101" in out
    assert "    - es.cross  /ES  2026-01-05T14:30:13.000Z   (expected at rules.d/tests/es.yaml:8)" in out
    assert "    + es.cross  /ES  2026-01-05T14:30:14.000Z  value 100.5" in out
    assert any(
        line.startswith("    ~ es.vol  /ES  2026-01-05T14:30:03.000Z  value 2.5   (expected value 2.4") for line in out
    )
    assert "2 tests, 2 failed" in result.stderr
    assert test_file.exists()


def test_mistakes_in_a_test_file_are_located_like_rule_file_errors(tmp_path: Path) -> None:
    bad = """\
tests:
  - name: typos
    ticks:
      /ES: "99 101 1o2"
      /NQ: "1 2"
    expect:
      - {rule: es.crosss, at: "14:30:01"}
      - {rule: es.cross, at: "25:00:00"}
  - name: no input
    expect: []
"""
    test_file = project(tmp_path, bad)
    result = tradeassist("test", test_file.relative_to(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "rules.d/tests/es.yaml:5:20: ticks: cannot read '1o2': write PRICE, PRICE:VOLUME, PRICExN, _ (a gap) or @TIME",
        "rules.d/tests/es.yaml:6:7: symbol '/NQ' is not declared by the rules under test: its ticks would be ignored",
        "rules.d/tests/es.yaml:8:16: unknown rule 'es.crosss' (did you mean 'es.cross'?): not defined by the rules under test",
        "rules.d/tests/es.yaml:9:30: at: invalid time of day '25:00:00'",
        "rules.d/tests/es.yaml:10:5: give the input with exactly one of 'ticks:' or 'ticks_file:'",
    ]
    unknown_key = project(tmp_path / "2", "tests:\n  - name: x\n    ticks: {/ES: '1'}\n    expct: []\n")
    result = tradeassist("test", unknown_key, cwd=tmp_path / "2")
    assert result.returncode == 1
    assert "rules.d/tests/es.yaml:5:5: unknown field 'expct' (did you mean 'expect'?)" in result.stdout
    assert "rules.d/tests/es.yaml:3:5: missing required field 'expect'" in result.stdout


def test_a_tick_file_can_be_the_input(tmp_path: Path) -> None:
    test_file = project(
        tmp_path,
        "tests:\n  - name: from a file\n    ticks_file: ticks.csv\n    expect:\n"
        "      - {rule: es.cross, at: '2026-01-05T14:30:01.500Z'}\n",
    )
    (test_file.parent / "ticks.csv").write_text(
        "ts,symbol,price,volume\n2026-01-05T14:30:00.000Z,/ES,99,1\n2026-01-05T14:30:01.500Z,/ES,100.25,1\n"
    )
    result = tradeassist("test", test_file, cwd=tmp_path)
    assert result.returncode == 0, result.stdout


def test_shipped_rule_tests_pass_and_are_not_loaded_as_rule_files() -> None:
    assert (ROOT / "rules.d" / "tests").is_dir()
    assert all(p.parent == ROOT / "rules.d" for p in find_rule_files(ROOT / "rules.d"))
    tested = {p.name for p in (ROOT / "rules.d" / "tests").glob("*.yaml")}
    assert {p.name for p in find_rule_files(ROOT / "rules.d")} <= tested  # one test file per rule file
    result = tradeassist("test", "rules.d/tests/")
    assert result.returncode == 0, result.stdout
    assert "FAIL" not in result.stdout
    assert tradeassist("validate", "config/config.yaml").returncode == 0


def test_ci_runs_the_rule_tests_before_pytest_and_pre_commit_exposes_both_hooks() -> None:
    from ruamel.yaml import YAML

    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("tradeassist test rules.d/tests/") < ci.index("-m pytest")
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in hooks} == {
        "tradeassist-validate": "tradeassist validate",
        "tradeassist-test": "tradeassist test",
    }
    workflow = (ROOT / "examples" / "ci" / "github-workflow.yaml").read_text()
    steps = [workflow.index(s) for s in ("tradeassist validate", "tradeassist test", "tradeassist diff")]
    assert steps == sorted(steps) and "--git-ref" in workflow and "--ticks" in workflow


BAR_RULES = """\
rules:
  - {id: es.bar, instrument: /ES, type: threshold, bar: 1m, condition: above, threshold: 100, cooldown: 0s}
  - id: es.both
    instrument: /ES
    type: all
    cooldown: 0s
    conditions:
      - {type: threshold, condition: above, threshold: 100}
      - {type: rate_of_change, window: 1s, condition: above, threshold: 1}
"""


def test_bar_start_and_conjunction_values_are_checked(tmp_path: Path) -> None:
    test_file = project(tmp_path, """\
tests:
  - name: bar and conjunction
    interval: 30s
    only: [es.bar, es.both]
    ticks:
      /ES: "99 102 99"
    expect:
      - {rule: es.bar, at: "14:31:00", bar_start: "14:30:00", value: 102}
      - {rule: es.both, at: "14:30:30", values: [102, 3.0303]}
""")
    (tmp_path / "rules.d" / "es.yaml").write_text(RULES + BAR_RULES.removeprefix("rules:\n"))
    assert tradeassist("test", test_file, cwd=tmp_path).returncode == 0
    test_file.write_text(test_file.read_text().replace('"14:30:00"', '"14:29:00"').replace("3.0303", "3.03, 1"))
    result = tradeassist("test", "rules.d/tests/es.yaml", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert (
        "    ~ es.bar  /ES  2026-01-05T14:31:00.000Z  value 102  bar 2026-01-05T14:30:00.000Z"
        "   (expected bar_start 2026-01-05T14:29:00.000Z, at rules.d/tests/es.yaml:9)"
    ) in out
    assert any(line.startswith("    ~ es.both  /ES  2026-01-05T14:30:30.000Z  value 102  values [102, 3.03030303")
               and "(expected values [3.03, 1]" not in line and "(expected values [102, 3.03, 1]" in line
               for line in out), out
