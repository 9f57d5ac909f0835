"""The one timestamp spelling users see: ``2026-01-05T14:30:00.125Z``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from tradeassist_runner.timefmt import from_epoch_ms, iso_ms, iso_ms_expr, parse_iso, to_epoch_ms

UTC = timezone.utc
T = datetime(2026, 1, 5, 14, 30, 0, 125000, tzinfo=UTC)


def test_datetime_and_epoch_ms_give_the_same_text() -> None:
    assert iso_ms(T) == "2026-01-05T14:30:00.125Z"
    assert iso_ms(1767623400125) == "2026-01-05T14:30:00.125Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_sub_millisecond_digits_are_floored_like_the_stored_epoch_ms() -> None:
    t = datetime(2026, 1, 5, 14, 30, 0, 125999, tzinfo=UTC)
    assert iso_ms(t) == "2026-01-05T14:30:00.125Z"
    assert to_epoch_ms(t) == 1767623400125


def test_other_offsets_are_converted_and_naive_means_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert iso_ms(datetime(2026, 1, 5, 15, 30, tzinfo=paris)) == "2026-01-05T14:30:00.000Z"
    assert iso_ms(datetime(2026, 1, 5, 14, 30)) == "2026-01-05T14:30:00.000Z"


def test_non_times_are_rejected() -> None:
    with pytest.raises(TypeError):
        iso_ms(True)
    with pytest.raises(TypeError):
        iso_ms("2026-01-05")  # type: ignore[arg-type]


def test_polars_expression_matches_the_scalar_form() -> None:
    values = [T, datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)]
    s = pl.Series("ts", values, dtype=pl.Datetime("ms", "UTC"))
    got = s.to_frame().select(iso_ms_expr("ts"))["ts"].to_list()
    assert got == [iso_ms(v) for v in values]


def test_round_trips() -> None:
    assert from_epoch_ms(to_epoch_ms(T)) == T
    assert parse_iso(iso_ms(T)) == T
    assert parse_iso("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="invalid time 'soon'"):
        parse_iso("soon")
