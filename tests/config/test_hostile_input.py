"""Files that are valid YAML but hostile or absurd: each is one located problem, never a hang or a traceback.

An alias bomb, 5,000 levels of nesting, numbers the engine cannot hold, a format width
that would allocate gigabytes: ``validate`` must answer each with ``PATH:LINE:COLUMN:
message`` and exit 1, with either parser (``yaml_path``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tradeassist_runner.config.fast_yaml import parse_fast
from tradeassist_runner.config.loader import load_config
from tradeassist_runner.errors import ConfigError

from .conftest import WriteProject

LOCATED = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+$")
TRADEASSIST = Path(sys.executable).with_name("tradeassist")


def alias_bomb(levels: int = 9, fan_out: int = 10) -> str:
    """``a0: &a0 "lol"`` then lists of ten aliases of the one before: 10**8 strings once expanded."""
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]")
    return "\n".join(lines) + "\nrules: []\n"


def rule(**fields: str | None) -> str:
    base: dict[str, str | None] = {
        "id": "r1", "instrument": "/ES", "type": "volume_spike", "condition": "above",
        "threshold": "3", "period": "20",
    }  # fmt: skip
    base.update(fields)
    return "rules:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in base.items() if v is not None) + "\n"


def problems_of(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    lines = [str(p) for p in caught.value.problems]
    for line in lines:
        assert LOCATED.match(line), line
    return lines


def only_problem(config: Path) -> str:
    lines = problems_of(config)
    assert len(lines) == 1, lines
    return lines[0]


def test_alias_bomb_is_refused_at_the_alias(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"bomb.yaml": alias_bomb()})
    line = only_problem(config)
    assert re.match(r".*rules\.d/bomb\.yaml:\d+:\d+: .*alias", line), line
    assert "expand" in line


def test_a_few_aliases_still_work(write_project: WriteProject, yaml_path: str) -> None:
    text = (
        "rules:\n"
        "  - &d {id: a, instrument: /ES, type: threshold, condition: above, threshold: 1, cooldown: 5m}\n"
        "  - {<<: *d, id: b}\n"
    )
    loaded = load_config(write_project(rules={"a.yaml": text}))
    assert [(r.rule.id, r.rule.cooldown.total_seconds()) for r in loaded.rules] == [("a", 300.0), ("b", 300.0)]


def test_alias_bomb_is_declined_by_the_fast_parser() -> None:
    assert parse_fast(alias_bomb()) is None


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_flow_nesting_is_refused(write_project: WriteProject, yaml_path: str, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    config = write_project(rules={"deep.yaml": "rules:\n  - notify: " + opening * 5000 + closing * 5000 + "\n"})
    line = only_problem(config)
    assert "nested" in line, line


def test_deep_block_nesting_is_refused(write_project: WriteProject, yaml_path: str) -> None:
    text = "rules:\n" + "".join("  " * i + "- \n" for i in range(1, 1500)) + "  " * 1500 + "- x\n"
    config = write_project(rules={"deep.yaml": text})
    line = only_problem(config)
    assert "nested" in line, line


def test_huge_file_is_refused_before_parsing(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"huge.yaml": "# " + "x" * (17 * 1024 * 1024) + "\nrules: []\n"})
    line = only_problem(config)
    assert re.match(r".*huge\.yaml:1:1: .*larger than", line), line


def test_a_list_of_a_million_items_is_refused_before_parsing(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"wide.yaml": "rules:\n  - notify: [" + "x," * 1_000_000 + "x]\n"})
    line = only_problem(config)
    assert re.match(r".*wide\.yaml:2:\d+: file too large: more than 500,000 lines and list items", line), line


def test_a_recursive_alias_is_refused(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"a.yaml": "rules:\n  - notify: &a [*a]\n"})
    assert only_problem(config).endswith("a.yaml:2:17: an alias inside its own anchor (an infinitely deep value)")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("period", "9223372036854775808", "period: must be <= 100000"),
        ("period", "0", "period: must be >= 1"),
        ("cooldown", "99999999999999999999d", "cooldown: "),
        ("cooldown", "9" * 400 + "s", "cooldown: "),
        ("cooldown", "367d", "cooldown: must be at most 366d"),
        ("threshold", "1" + "0" * 309, "threshold: must be a finite number"),
        ("threshold", "1e999", "threshold: must be a finite number"),
        ("threshold", "9" * 5000, "number"),
        ("message", '"{price:>999999999999}"', "message: "),
    ],
)
def test_numbers_the_engine_cannot_hold_are_located_errors(
    write_project: WriteProject, yaml_path: str, field: str, value: str, expected: str
) -> None:
    config = write_project(rules={"a.yaml": rule(**{field: value})})
    line = only_problem(config)
    assert re.match(r".*rules\.d/a\.yaml:\d+:\d+: ", line), line
    assert expected in line, line


def test_rate_of_change_window_is_bounded(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"a.yaml": rule(type="rate_of_change", period=None, window="400d")})
    assert "window: must be at most 366d" in only_problem(config)


def test_control_characters_are_escaped_in_messages(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"a.yaml": rule().replace("period: 20", "period: 20\n    \"co\\u2029ol\\a\": 1")})
    line = only_problem(config)
    assert line.splitlines() == [line]
    assert "\\u2029" in line and "\\u0007" in line, line


def test_a_non_ascii_rule_id_says_ascii(write_project: WriteProject, yaml_path: str) -> None:
    config = write_project(rules={"a.yaml": rule(id="ünïcode-id")})
    line = only_problem(config)
    assert "may only contain ASCII letters, digits, '_', '.' and '-'" in line, line


def test_an_empty_rules_folder_loads_with_a_warning(write_project: WriteProject) -> None:
    loaded = load_config(write_project())
    assert [w.split(": ", 1)[1] for w in loaded.warnings] == [
        "warning: no rules: rules_dir 'rules.d' holds no *.yaml or *.yml files"
    ]


def run_validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRADEASSIST), "validate", str(config)], capture_output=True, text=True, timeout=120, check=False
    )


def test_validate_cli_refuses_the_alias_bomb(write_project: WriteProject) -> None:
    config = write_project(rules={"bomb.yaml": alias_bomb()})
    done = run_validate(config)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stdout.splitlines()
    assert LOCATED.match(line) and "alias" in line, line


def test_validate_cli_warns_about_an_empty_rules_folder(write_project: WriteProject) -> None:
    done = run_validate(write_project())
    assert done.returncode == 0, done.stderr
    assert "warning: no rules" in done.stderr


def test_validate_cli_on_every_nasty_value_in_every_field(write_project: WriteProject) -> None:
    from .test_validate_fuzz import NASTY

    files = {
        f"{field}-{i:02d}.yaml": rule(**{"id": f"{field}-{i}", field: value})
        for field in ("id", "threshold", "period", "cooldown", "message", "severity")
        for i, value in enumerate(NASTY)
    }
    done = run_validate(write_project(rules=files))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and re.fullmatch(r"\d+ problems found\n", done.stderr), done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) >= len(NASTY)
    for line in lines:
        assert LOCATED.match(line), line
