"""``tradeassist diff``: rule changes field by field, and their effect on alerts over the same ticks."""

from __future__ import annotations

import re
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ..cli_helpers import ROOT, tradeassist

TICKS = (
    "ts,symbol,price,volume\n"
    "2026-01-05T14:30:00.000Z,/ES,5995,1\n"
    "2026-01-05T14:30:01.000Z,/ES,6002,1\n"  # crosses 6000 (not 6010)
    "2026-01-05T14:30:02.000Z,/ES,5998,1\n"
    "2026-01-05T14:40:00.000Z,/ES,6003,1\n"  # crosses 6000 again, 10 minutes later
    "2026-01-05T14:40:01.000Z,$VIX,17,\n"
)


def modified_copy(tmp_path: Path) -> Path:
    """The shipped config and rules, with one rule changed, one removed and one added."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "rules.d", tmp_path / "rules.d")
    futures = tmp_path / "rules.d" / "futures.yaml"
    text = futures.read_text()
    text = text.replace("    threshold: 6010\n", "    threshold: 6000\n", 1)
    futures.write_text(text)
    internals = tmp_path / "rules.d" / "internals.yaml"
    text = internals.read_text()
    start = text.index("  - id: vix.above.16.2")
    end = text.index("  - id: vix.jump")
    internals.write_text(text[:start] + text[end:])
    (tmp_path / "rules.d" / "extra.yml").write_text(
        "rules:\n  - {id: es.new, instrument: /ES, type: threshold, condition: above, threshold: 6001, cooldown: 0s}\n"
    )
    (tmp_path / "ticks.csv").write_text(TICKS)
    return tmp_path / "config" / "config.yaml"


def test_diff_shows_changed_added_removed_rules_and_alert_counts(tmp_path: Path) -> None:
    new = modified_copy(tmp_path)
    result = tradeassist("diff", ROOT / "config" / "config.yaml", new, "--ticks", tmp_path / "ticks.csv")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.match(r"rules: 1 added, 1 removed, 1 changed, [0-9]+ unchanged", out), out
    assert "~ changed  es.breakout.6010" in out and "threshold: 6010 -> 6000" in out
    assert "+ added    es.new" in out and "- removed  vix.above.16.2" in out
    lines = out.splitlines()
    row = next(line for line in lines if line.strip().startswith("es.breakout.6010 "))
    assert row.split() == ["es.breakout.6010", "0", "2", "+2"]
    assert next(line for line in lines if line.strip().startswith("vix.above.16.2 ")).split() == [
        "vix.above.16.2", "1", "0", "-1"
    ]
    assert "+ 2026-01-05T14:30:01.000Z /ES value 6002   (only NEW fires)" in out
    assert "- 2026-01-05T14:40:01.000Z $VIX value 17   (only OLD fires)" in out


def test_diff_json_and_markdown(tmp_path: Path) -> None:
    new = modified_copy(tmp_path)
    result = tradeassist("diff", "rules.d", new.parent.parent / "rules.d", "--ticks", tmp_path / "ticks.csv", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [c["rule_id"] for c in doc["rules"]["changed"]] == ["es.breakout.6010"]
    assert doc["rules"]["changed"][0]["fields"] == {"threshold": {"old": 6010.0, "new": 6000.0}}
    by_rule = {r["rule_id"]: r for r in doc["alerts"]["rules"]}
    assert (by_rule["es.breakout.6010"]["old"], by_rule["es.breakout.6010"]["new"]) == (0, 2)
    assert by_rule["es.new"]["new_only"][0] == {"symbol": "/ES", "ts": "2026-01-05T14:30:01.000Z", "value": 6002.0}
    md = tradeassist("diff", "rules.d", tmp_path / "rules.d", "--format", "markdown").stdout
    assert "| changed | `es.breakout.6010` |" in md and "`threshold`: 6010 → 6000" in md


def test_diff_against_a_git_ref_uses_a_temporary_worktree(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    modified_copy(repo)

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=repo, check=True, capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "rules")
    futures = repo / "rules.d" / "futures.yaml"
    futures.write_text(futures.read_text().replace("    threshold: 6000\n", "    threshold: 6020\n", 1))
    result = tradeassist("diff", "config/config.yaml", "--git-ref", "main", "--ticks", "ticks.csv", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "(OLD config/config.yaml@main, NEW config/config.yaml)" in result.stdout
    assert "threshold: 6000 -> 6020" in result.stdout
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(worktrees.splitlines()) == 1  # the temporary worktree is gone
    bad = tradeassist("diff", "config/config.yaml", "--git-ref", "nope", cwd=repo)
    assert bad.returncode == 1 and "unknown Git ref 'nope'" in bad.stderr


def test_diff_usage_and_invalid_input(tmp_path: Path) -> None:
    assert tradeassist("diff", "config/config.yaml").returncode == 2
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.yaml").write_text("rules:\n  - {id: a, instrument: /ES, type: threshold, condition: abve, threshold: 1}\n")
    result = tradeassist("diff", "rules.d", tmp_path / "r")
    assert result.returncode == 1
    assert "r/x.yaml:2:58: condition: 'abve' is not one of above, below, crosses_above, crosses_below" in result.stdout
