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


OUTSIDE = re.compile(r"\.\./shared|SPEC|[Ii]ssue [0-9]")


def test_readme_docs_and_package_refer_to_nothing_outside_the_repository() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "tradeassist_runner").rglob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_every_relative_link_in_readme_and_docs_resolves() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://|mailto:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.M)
                slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
                if anchor not in slugs:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
