"""``tradeassist alerts``: out-of-range arguments are usage errors (exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from .cli_helpers import tradeassist


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "rules.d").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(
        "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"
        "storage: {sqlite: data/a.sqlite, parquet_dir: data/a, state: data/s.sqlite}\n"
    )
    (tmp_path / "data").mkdir()
    with SqliteAlertLog(tmp_path / "data" / "a.sqlite"):
        pass  # an empty alert log, so that only the arguments can be wrong
    return path


def test_an_empty_log_with_sane_arguments_is_fine(config: Path) -> None:
    result = tradeassist("alerts", config, "--limit", "9223372036854775807", "--since", "10000d")
    assert result.returncode == 0, result.stderr
    assert "0 alerts" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--limit", "99999999999999999999999"], "--limit"),
        (["--limit", "-1"], "--limit"),
        (["--since", "99999999999999d"], "--since"),
        (["--until", "99999999999999d"], "--until"),
        (["--since", "whenever"], "--since"),
    ],
)
def test_out_of_range_arguments_are_usage_errors(config: Path, args: list[str], named: str) -> None:
    result = tradeassist("alerts", config, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert named in result.stderr
    assert result.stdout == ""
