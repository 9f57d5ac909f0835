"""Mutated rule files: loading one either succeeds (and then the engine runs it) or gives located problems.

Never a traceback, never a multi-line message, never a file that ``validate`` accepts but
the engine cannot compile.  Derandomized and bounded, so it is the same run every time.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.engine.evaluate import Engine
from tradeassist_runner.engine.plan import compile_plan
from tradeassist_runner.errors import ConfigError
from tradeassist_runner.sources.ticks import TICK_SCHEMA

CONFIG = "instruments:\n  - {symbol: /ES, type: future}\nrules_dir: rules.d\n"

VALID = """\
rules:
  - id: es-above
    instrument: /ES
    type: threshold
    condition: above
    threshold: 6000
    cooldown: 5m
    message: "{symbol} at {price:.2f}"
  - id: es-roc
    instrument: /ES
    type: rate_of_change
    condition: crosses_below
    threshold: -0.5
    window: 30s
  - id: es-vol
    instrument: /ES
    type: volume_spike
    condition: above
    threshold: 3
    period: 20
    severity: critical
"""

#: Values that broke ``validate`` once, or are close to a limit.
NASTY = [
    "9223372036854775808", "-9223372036854775809", "1" + "0" * 309, "9" * 5000, "1e999", "-.inf", ".nan",
    "0x7fffffffffffffff", "1_000_000", "99999999999999999999d", "9" * 400 + "s", "366d", "367d", "0.0001ms",
    '"{price:>999999999999}"', '"{price:.{volume}f}"', '"{nope}"', '"\\u2029"', '"\\x85\\x1b[2J"',
    "&a [*a]", "*undefined", "[" * 200 + "]" * 200, "{a: " * 100 + "1" + "}" * 100, "!!python/object:os.system",
    "ünïcode-id", "''", "null", "~", "[]", "{}", "-", "? x", "|\n      text", ">-", "'unterminated", '"\\q"',
]  # fmt: skip
ALPHABET = st.sampled_from(list("[]{}&*!|>:-#,'\"\\%@` \t\n0123456789.eE+_aZü\u2028\u2029\x00\x07\x85\ufeff"))
LOCATED = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+$")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "insert", "chars", "delete", "repeat"]))
        if kind == "value" and ": " in lines[i]:
            head = lines[i].split(": ", 1)[0]
            lines[i] = f"{head}: {draw(st.sampled_from(NASTY) | st.text(ALPHABET, max_size=12))}"
        elif kind == "insert":
            lines.insert(i, "    " + draw(st.sampled_from(["period", "threshold", "cooldown", "message", "x"])) + ": " + draw(st.sampled_from(NASTY)))
        elif kind == "chars":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(ALPHABET, min_size=1, max_size=6)) + lines[i][at:]
        elif kind == "delete":
            del lines[i]
            if not lines:
                lines = ["rules: []"]
        else:
            lines[i:i] = [lines[i]] * draw(st.integers(1, 3))
    return "\n".join(lines) + "\n"


def ticks() -> pl.DataFrame:
    t0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
    rows = [
        {"ts": t0 + timedelta(seconds=i), "symbol": "/ES", "price": 6000.0 + i, "volume": 1 + 5 * (i == 30)}
        for i in range(40)
    ]
    return pl.DataFrame(rows).with_columns(pl.col("ts").cast(TICK_SCHEMA["ts"]))


@settings(
    derandomize=True, max_examples=300, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(mutated())
def test_a_mutated_rules_file_loads_or_gives_located_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config.yaml").write_text(CONFIG)
        (root / "rules.d").mkdir()
        (root / "rules.d" / "a.yaml").write_text(text, encoding="utf-8")
        try:
            loaded = load_config(root / "config.yaml")
        except ConfigError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert LOCATED.match(str(problem)), str(problem)
            return
        Engine(compile_plan(loaded.rules)).process(ticks())  # what validate accepts, run can run
