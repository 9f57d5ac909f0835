"""The test set-up a user and CI get: one documented command, reproducible property tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .cli_helpers import ROOT

SHOW_PROFILE = (
    "import tests.conftest; from hypothesis import settings; s = settings.default; "
    "print(s.derandomize, s.max_examples, s.deadline, s.print_blob, s.database)"
)


def active_profile(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    result = subprocess.run(
        [sys.executable, "-c", SHOW_PROFILE], capture_output=True, text=True, cwd=ROOT,
        env={**base, **env}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_ci_runs_hypothesis_derandomized_with_a_fixed_budget() -> None:
    assert active_profile(CI="true") == "True 100 None True None"


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"CI": "true", "HYPOTHESIS_PROFILE": "dev"}])
def test_elsewhere_hypothesis_draws_fresh_inputs_and_more_of_them(env: dict[str, str]) -> None:
    derandomize, examples, *_ = active_profile(**env).split()
    assert derandomize == "False"
    assert int(examples) > 100


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    (command,) = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert any(command in block.splitlines() for block in blocks), command
    for tool in ("mypy --strict tradeassist_runner", "ruff check", "tradeassist test rules.d/tests/", "pytest"):
        assert tool in command
