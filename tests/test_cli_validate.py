"""``tradeassist validate``: exit codes and output exactly as docs/semantics.md ("Command line") says."""

from __future__ import annotations

import re
from pathlib import Path

from .cli_helpers import ROOT, tradeassist
from .config.conftest import WriteProject, write_project  # noqa: F401  (fixture)
from .config.test_validate_cases import CONFIG, FUTURES, MORE, SYNTAX_ERROR, expected_lines

LOCATED = re.compile(r"^.+:\d+:\d+: .+$")


def test_shipped_examples_are_valid() -> None:
    result = tradeassist("validate", "config/config.yaml", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "OK:" in result.stderr


def test_every_problem_is_printed_once_located_and_exit_1(write_project: WriteProject) -> None:
    config = write_project(
        config=CONFIG,
        rules={"a_broken.yaml": SYNTAX_ERROR, "b_futures.yaml": FUTURES, "c_more.yaml": MORE},
    )
    result = tradeassist("validate", config)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert all(LOCATED.match(line) for line in lines), lines
    assert set(lines) == expected_lines(config.parent)
    assert len(lines) == len(expected_lines(config.parent))


def test_missing_config_is_invalid_input_not_a_crash(tmp_path: Path) -> None:
    result = tradeassist("validate", tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert result.stdout.strip().endswith("nope.yaml:1:1: file not found")
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    assert tradeassist("validate").returncode == 2
    assert tradeassist("backtest", "config/config.yaml").returncode == 2  # --ticks missing
    assert tradeassist("no-such-command").returncode == 2
