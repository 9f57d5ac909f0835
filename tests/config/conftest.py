"""Fixtures that write a small config project into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BASE_CONFIG = """\
instruments:
  - symbol: /ES
    name: E-mini S&P 500 futures
    type: future
  - symbol: $TICK
    type: internal
rules_dir: rules.d
"""

WriteProject = Callable[..., Path]


@pytest.fixture
def write_project(tmp_path: Path) -> WriteProject:
    """``write_project(config=..., rules={"a.yaml": "..."})`` -> path of the config file.

    Texts are dedented so tests can show YAML at its real columns; line/column
    assertions refer to the dedented text.
    """

    def write(config: str = BASE_CONFIG, rules: dict[str, str] | None = None) -> Path:
        config_path = tmp_path / "config.yaml"
        config_path.write_text(textwrap.dedent(config), encoding="utf-8")
        rules_dir = tmp_path / "rules.d"
        rules_dir.mkdir(exist_ok=True)
        for name, text in (rules or {}).items():
            (rules_dir / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return config_path

    return write


@pytest.fixture(params=["fast", "reference"])
def yaml_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test once with the fast parse and once with ruamel's round-trip parse alone.

    The messages a test pins must not depend on which parser read the file.
    """
    from tradeassist_runner.config import yaml_source

    if request.param == "reference":
        monkeypatch.setattr(yaml_source, "parse_fast", lambda text: None)
    yield request.param
