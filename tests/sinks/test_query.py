"""What ``tradeassist alerts`` prints and which times it accepts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tradeassist_runner.sinks.query import escape_line_breaks, format_jsonl, format_table, parse_since
from tradeassist_runner.sinks.sqlite import SqliteAlertLog

from .conftest import alert_row, alerts_range, make_alerts

NOW = datetime(2026, 1, 5, 15, 0, 0, 500000, tzinfo=timezone.utc)
UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        (" 1d ", NOW - timedelta(days=1)),
        ("1h30m", NOW - timedelta(minutes=90)),
        ("2026-01-05", datetime(2026, 1, 5, tzinfo=UTC)),
        ("2026-01-05T14:30:00.125Z", datetime(2026, 1, 5, 14, 30, 0, 125000, tzinfo=UTC)),
        ("2026-01-05T16:30:00+02:00", datetime(2026, 1, 5, 14, 30, tzinfo=UTC)),
        ("2026-01-05T14:30:00", datetime(2026, 1, 5, 14, 30, tzinfo=UTC)),
    ],
)
def test_parse_since_accepts_iso_and_durations_back_from_now(text: str, expected: datetime) -> None:
    got = parse_since(text, NOW)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "15", "-15m", "2026-13-01", "15 minutes"])
def test_parse_since_rejects_other_text_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="invalid time") as err:
        parse_since(text, NOW)
    assert repr(text) in str(err.value)


def test_jsonl_is_one_object_per_alert_with_contract_keys_first() -> None:
    df = make_alerts(alert_row(0), alert_row(1, value=float("nan"), volume=None))
    lines = list(format_jsonl(df))
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:9] == [
        "rule_id", "symbol", "ts", "value", "threshold", "condition", "type", "severity", "message"
    ]  # fmt: skip
    assert first["ts"] == "2026-01-05T14:30:00.125Z"
    assert first["evaluated_at"] == "2026-01-05T14:30:01.007Z"
    assert (first["rule_id"], first["symbol"], first["value"], first["threshold"]) == ("es_above", "/ES", 4500.25, 4500.0)
    assert (first["condition"], first["type"], first["severity"]) == ("above", "threshold", "warning")
    assert "delivery_status" not in first  # a backtest frame has none
    assert second["value"] is None and second["volume"] is None


def test_jsonl_of_logged_alerts_carries_delivery_status_as_an_object(tmp_path: Path) -> None:
    with SqliteAlertLog(tmp_path / "alerts.db") as log:
        log.write(alerts_range(0, 1), {"slack": {"status": "sent", "attempts": 1}})
        [line] = format_jsonl(log.query())
    obj = json.loads(line)
    assert obj["delivery_status"]["slack"]["status"] == "sent"
    assert obj["ts"] == "2026-01-05T14:30:00.125Z"


def test_table_is_fixed_width_and_readable(tmp_path: Path) -> None:
    df = make_alerts(
        alert_row(0),
        alert_row(1, rule_id="tick_extreme_low", symbol="$TICK", value=-1012.5, threshold=-1000.0,
                  message="line one\nline two " + "z" * 100),
    )  # fmt: skip
    with SqliteAlertLog(tmp_path / "alerts.db") as log:
        log.write(df, {"slack": {"status": "sent"}, "desktop": {"status": "failed"}})
        text = format_table(log.query())
    header, rule, first, second = text.splitlines()
    assert header.split() == [
        "ts", "rule_id", "symbol", "type", "condition", "value", "threshold", "severity", "delivery", "message"
    ]  # fmt: skip
    assert set(rule) == {"-", " "}
    # every column starts at the same offset on every line
    starts = [i for i in range(len(rule)) if rule[i] == "-" and (i == 0 or rule[i - 1] == " ")]
    for line in (first, second):
        assert [line[s - 2 : s] for s in starts[1:]] == ["  "] * (len(starts) - 1)
    assert first.startswith("2026-01-05T14:30:00.125Z  es_above")
    assert "4500.25" in first and "-1012.5" in second
    assert "desktop:failed slack:sent" in first
    assert "line one line two" in second and second.endswith("…")
    assert len(second.split("  ")[-1]) <= 60


def test_table_of_nothing_says_so() -> None:
    assert format_table(alerts_range(0, 0)) == "no alerts"


def test_formatters_need_the_contract_columns() -> None:
    with pytest.raises(ValueError, match="threshold"):
        list(format_jsonl(alerts_range(0, 1).drop("threshold")))


def test_column_wise_jsonl_is_the_per_row_spelling_parsed() -> None:
    """The backtest's column-wise JSONL reads back exactly as the per-row dict + json.dumps did."""
    from tradeassist_runner.sinks.query import _JSON_KEYS, _row_lines, jsonl_text

    df = make_alerts(
        alert_row(0, message="quote \" newline \n tab \t é \u2028 \x85 end", bar_start=datetime(2026, 1, 5, 14, 25, tzinfo=UTC),
                  values="[1.5, null, -2e-07]", prev_value=float("nan"), volume=2**62),
        alert_row(1, value=float("inf"), volume=None, message=None, values=None),
        alert_row(2, value=-0.0, threshold=1e300),
    )
    text = jsonl_text(df).decode()
    assert text.endswith("\n") and text.count("\n") == 3
    keys = [k for k in _JSON_KEYS if k in df.columns]
    assert [json.loads(line) for line in text.splitlines()] == [json.loads(line) for line in _row_lines(df, keys)]
    first = json.loads(text.splitlines()[0])
    assert first["bar_start"] == "2026-01-05T14:25:00.000Z" and first["values"] == [1.5, None, -2e-07]
    assert first["prev_value"] is None and json.loads(text.splitlines()[1])["value"] is None


@given(st.text(st.sampled_from(["a", "\"", "\\", "é", "\u2028", "\u2029", "\x85", "\u20ac", "\n"]) | st.characters(exclude_categories=["Cs"])))
@example("plain ascii")
@example("before \u2028 after \x85 and \u2029")
def test_escaping_line_breaks_skips_ascii_text_without_changing_any(text: str) -> None:
    """The ASCII short cut gives what the three replaces give, for any text."""
    data = json.dumps(text, ensure_ascii=False).encode()
    want = data.replace(b"\xc2\x85", b"\\u0085").replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    got = escape_line_breaks(data)
    assert got == want
    assert json.loads(got) == text and len(got.decode().splitlines()) == 1


@pytest.mark.parametrize("evaluated", [
    [datetime(2026, 1, 5, 14, 30, 0, 125999, tzinfo=UTC)] * 3,  # one instant: spelled once
    [datetime(2026, 1, 5, 14, 30, tzinfo=UTC)] * 2 + [datetime(2026, 1, 5, 14, 30, 0, 1000, tzinfo=UTC)],
    [datetime(2026, 1, 5, 14, 30, tzinfo=UTC), None, datetime(2026, 1, 5, 14, 30, tzinfo=UTC)],
    [datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)] * 3,
])
def test_a_time_column_holding_one_instant_reads_as_every_row_spelled(evaluated: list[datetime | None]) -> None:
    from tradeassist_runner.sinks.query import _JSON_KEYS, _row_lines, jsonl_text
    from tradeassist_runner.timefmt import iso_ms

    df = make_alerts(*(alert_row(i, evaluated_at=at) for i, at in enumerate(evaluated)))
    for frame in (df, df.with_columns(pl.col("evaluated_at").dt.replace_time_zone(None))):  # naive is UTC
        keys = [k for k in _JSON_KEYS if k in frame.columns]
        lines = jsonl_text(frame).decode().splitlines()
        assert [json.loads(line) for line in lines] == [json.loads(line) for line in _row_lines(frame, keys)]
        assert json.loads(lines[0])["evaluated_at"] == iso_ms(frame["evaluated_at"][0])


def test_jsonl_written_in_parts_is_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's JSONL is written a slice of rows at a time, whole lines per part, the same
    bytes as the text of the whole frame; a frame the column-wise path refuses (a values
    text that is not plain JSON numbers) is spelled row by row, all of it."""
    import io

    from tradeassist_runner.sinks import query

    good = make_alerts(*[alert_row(i, values="[1.5, 2]", message=f"m{i} \u2028") for i in range(7)])
    mixed = make_alerts(*[alert_row(i, values="[1.5, 2]" if i != 3 else "[not json") for i in range(7)])
    for df, counts in ((good, [2, 2, 2, 1]), (mixed, [7])):
        whole = query.jsonl_text(df)
        monkeypatch.setattr(query, "JSONL_ROWS_PER_PART", 2)
        parts = list(query.jsonl_parts(df))
        assert [p.count(b"\n") for p in parts] == counts
        assert all(p.endswith(b"\n") for p in parts)
        out = io.BytesIO()
        query.write_jsonl(out, df)
        assert out.getvalue() == b"".join(parts) == whole
        monkeypatch.setattr(query, "JSONL_ROWS_PER_PART", 16_384)
        assert query.jsonl_text(df) == whole
        assert [json.loads(line)["rule_id"] for line in whole.splitlines()] == df["rule_id"].to_list()
    assert b"\\u2028" in query.jsonl_text(good) and b"[1.5,2.0]" in query.jsonl_text(good)
