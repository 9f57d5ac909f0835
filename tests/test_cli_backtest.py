"""``tradeassist backtest``: JSONL exactly as docs/semantics.md says, equal to the per-tick reference."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import assume, given, settings

from tradeassist_runner.cli import main
from tradeassist_runner.timefmt import iso_ms

from .cli_helpers import tradeassist
from .engine.reference import Tick, reference_alerts
from .engine.test_equivalence import rule_sets, streams

INSTRUMENTS = [{"symbol": "/ES", "type": "future"}, {"symbol": "$TICK", "type": "internal"}]


def write_project(root: Path, rules: list[Any], ticks: list[Tick]) -> tuple[Path, Path]:
    (root / "rules.d").mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    config.write_text(json.dumps({"instruments": INSTRUMENTS, "rules_dir": "rules.d"}))
    dumped = [r if isinstance(r, dict) else r.model_dump(mode="json", exclude_none=True, by_alias=True) for r in rules]
    (root / "rules.d" / "rules.yaml").write_text(json.dumps({"rules": dumped}))
    csv = root / "ticks.csv"
    lines = ["ts,symbol,price,volume"]
    for i, t in enumerate(ticks):
        ts = str(t.ts_ms) if i % 2 else iso_ms(t.ts_ms)  # both spellings of a CSV ts
        lines.append(f"{ts},{t.symbol},{t.price!r},{'' if t.volume is None else t.volume}")
    csv.write_text("\n".join(lines) + "\n")
    return config, csv


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


@settings(max_examples=25, deadline=None)
@given(rules=rule_sets(), ticks=streams(max_size=40))
def test_jsonl_matches_reference_at_every_batch_size(rules: list[dict[str, Any]], ticks: list[Tick]) -> None:
    """What a CI pipeline reads: one JSON object per alert, every contract key, in firing order."""
    with tempfile.TemporaryDirectory() as tmp:
        config, csv = write_project(Path(tmp), rules, ticks)
        # validate refuses rules that can never (or always) fire; skip those sets.
        assume(CliRunner().invoke(main, ["validate", str(config)]).exit_code == 0)
        from tradeassist_runner.config.loader import load_config

        loaded = load_config(config)
        thresholds = {r.rule.id: float(getattr(r.rule, "threshold", None) or r.rule.conditions[0].threshold)
                      if r.rule.type == "all" else float(r.rule.threshold) for r in loaded.rules}
        expected = [
            {"rule_id": f.rule_id, "symbol": f.symbol, "ts": iso_ms(f.ts_ms), "value": f.value,
             "threshold": thresholds[f.rule_id], "alert_id": f.alert_id,
             "bar_start": None if f.bar_start is None else iso_ms(f.bar_start), "values": f.values}
            for f in reference_alerts([r.rule for r in loaded.rules], ticks)
        ]
        for batch_size in ("1", "7", "100000"):
            result = CliRunner().invoke(
                main, ["backtest", str(config), "--ticks", str(csv), "--format", "jsonl", "--batch-size", batch_size]
            )
            assert result.exit_code == 0, result.output
            got = [json.loads(line) for line in result.stdout.splitlines()]
            assert len(got) == len(expected)
            for g, e in zip(got, expected):
                assert all(_close(g[k], v) for k, v in e.items()), (g, e)


def test_real_command_prints_only_alerts_on_stdout_and_reports_bad_rows(tmp_path: Path) -> None:
    from tradeassist_runner.rules.catalog import RULE_MODELS

    ThresholdRule = RULE_MODELS["threshold"]  # noqa: N806

    rules = [ThresholdRule(id="es.100", instrument="/ES", type="threshold", condition="crosses_above", threshold=100, cooldown="0s")]
    ticks = [Tick(1767623400000, "/ES", 99.0, 1), Tick(1767623400125, "/ES", 100.5, None)]
    config, csv = write_project(tmp_path, rules, ticks)
    with csv.open("a") as f:
        f.write("2026-01-05T14:30:01Z,/ES,abc,1\n2026-01-05T14:30:01Z,/ES,101,-4\n2026-01-05T14:29:00Z,/ES,101,1\n")
    result = tradeassist("backtest", config, "--ticks", csv, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["rule_id"] == "es.100" and obj["symbol"] == "/ES"
    assert obj["ts"] == "2026-01-05T14:30:00.125Z" and obj["value"] == 100.5 and obj["threshold"] == 100.0
    assert "line 4: price 'abc' is not a number" in result.stderr
    assert "line 5: volume '-4' is negative" in result.stderr
    assert "line 6: ts 2026-01-05T14:29:00.000Z is earlier" in result.stderr


def test_table_format_summarises_per_rule(tmp_path: Path) -> None:
    from tradeassist_runner.rules.catalog import RULE_MODELS

    ThresholdRule = RULE_MODELS["threshold"]  # noqa: N806

    rules = [
        ThresholdRule(id="hit", instrument="/ES", type="threshold", condition="above", threshold=1, cooldown="0s"),
        ThresholdRule(id="miss", instrument="$TICK", type="threshold", condition="above", threshold=1),
    ]
    ticks = [Tick(1767623400000 + i, "/ES", 2.0, 1) for i in range(3)]
    config, csv = write_project(tmp_path, rules, ticks)
    result = tradeassist("backtest", config, "--ticks", csv, "--format", "table")
    assert result.returncode == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:-1]}
    assert rows["hit"][4:] == ["3", "2026-01-05T14:30:00.000Z", "2026-01-05T14:30:00.002Z"]
    assert rows["miss"][4:] == ["0", "-", "-"]


def test_unreadable_tick_files_exit_1(tmp_path: Path) -> None:
    config, csv = write_project(tmp_path, [], [])
    assert tradeassist("backtest", config, "--ticks", tmp_path / "missing.csv").returncode == 1
    (tmp_path / "ticks.txt").write_text("whatever")
    assert tradeassist("backtest", config, "--ticks", tmp_path / "ticks.txt").returncode == 1
    (tmp_path / "nocols.csv").write_text("ts,symbol,price\n2026-01-05T14:30:00Z,/ES,1\n")
    result = tradeassist("backtest", config, "--ticks", tmp_path / "nocols.csv")
    assert result.returncode == 1 and "volume" in result.stderr
    assert result.stdout == ""


def test_a_bad_quote_or_a_wrong_field_count_rejects_one_row_not_the_file(tmp_path: Path) -> None:
    from datetime import timedelta

    from tradeassist_runner.rules.catalog import RULE_MODELS

    ThresholdRule = RULE_MODELS["threshold"]  # noqa: N806
    rules = [ThresholdRule(id="es.any", instrument="/ES", type="threshold", condition="above", threshold=0, cooldown=timedelta(0))]
    ticks = [Tick(1767623400000 + i, "/ES", 100.0 + i, 1) for i in range(3)]
    config, csv = write_project(tmp_path, rules, ticks)
    with csv.open("a") as f:
        f.write('2026-01-05T14:30:01Z,/ES,"12"x,1\n')  # line 5
        f.write("2026-01-05T14:30:01Z,/ES,6000,5,40\n")  # line 6: a decimal comma
        f.writelines(f"2026-01-05T14:30:02Z,/ES,{p},1,9\n" for p in range(8))  # lines 7-14
        f.write("2026-01-05T14:30:03Z,/ES,200,1\n")
    result = tradeassist("backtest", config, "--ticks", csv, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["value"] for line in result.stdout.splitlines()] == [100.0, 101.0, 102.0, 200.0]
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{csv}: line 5: bad quoting")
    assert errors[1] == f"{csv}: line 6: 5 fields where the header has 4"
    assert f"{csv}: ... and 5 more rejected rows" in errors
    assert errors[-1] == "14 ticks read, 4 evaluated, 10 rejected, 4 alerts"


def test_without_batch_size_the_alerts_are_those_of_any_batch_size(tmp_path: Path) -> None:
    # The default batch (131,072 ticks at this rule count) takes the whole file in one
    # engine call; alerts are the same as in calls of 977 ticks.
    rules = [{"id": "es_up", "instrument": "/ES", "type": "threshold", "condition": "crosses_above",
              "threshold": 6001.0},
             {"id": "es_roc", "instrument": "/ES", "type": "rate_of_change", "window": "5s",
              "condition": "above", "threshold": 0.01, "cooldown": "10s"}]
    ticks = [Tick(1_767_623_400_000 + i * 100, ("/ES", "$TICK")[i % 2], 6000 + (i % 23) * 0.25, i % 9 + 1)
             for i in range(20_000)]
    config, csv = write_project(tmp_path, rules, ticks)
    runner = CliRunner()
    default = runner.invoke(main, ["backtest", str(config), "--ticks", str(csv), "--format", "jsonl", "--quiet"])
    small = runner.invoke(main, ["backtest", str(config), "--ticks", str(csv), "--format", "jsonl", "--quiet",
                                 "--batch-size", "977"])
    assert default.exit_code == small.exit_code == 0
    lines = [json.loads(x) for x in default.stdout.splitlines()]
    assert len(lines) > 50
    assert [{k: v for k, v in x.items() if k != "evaluated_at"} for x in lines] == \
        [{k: v for k, v in json.loads(x).items() if k != "evaluated_at"} for x in small.stdout.splitlines()]
