"""Firing gates over sample times: hours and days in local time, exchange calendar sessions.

The hand-computed cases give every instant in UTC with its local reading beside it, so
each expectation can be checked against a clock; the property test compares the
vectorized mask with a per-sample evaluation written straight from the rule text.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.gates import Gate, GateResult

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(text: str) -> int:
    """Epoch ms of an ISO UTC time, e.g. ``2026-01-05T04:00`` or ``...T03:59:59.999``."""
    return int((datetime.fromisoformat(text).replace(tzinfo=UTC) - EPOCH) / timedelta(milliseconds=1))


def check(gate: Gate, cases: Sequence[tuple[str, bool]]) -> GateResult:
    """Every (UTC time, allowed) pair, as one batch; nothing uncovered."""
    t = np.array([utc(when) for when, _ in cases], np.int64)
    result = gate.mask(t)
    got = {when: bool(a) for (when, _), a in zip(cases, result.allowed, strict=True)}
    assert got == dict(cases)
    assert not result.uncovered.any()
    return result


# ---------------------------------------------------------------- no gate at all


def test_without_gates_every_sample_is_allowed() -> None:
    gate = Gate("America/New_York")
    t = np.array([utc("1900-01-01T00:00"), utc("2026-01-19T15:00"), utc("2300-01-01T00:00")], np.int64)
    result = gate.mask(t)
    assert not gate.active
    assert result.allowed.tolist() == [True, True, True]
    assert result.uncovered.tolist() == [False, False, False]
    assert gate.mask(np.zeros(0, np.int64)).allowed.shape == (0,)


# ------------------------------------------------------------------------- hours, days


def test_an_overnight_range_with_days_uses_the_weekday_of_the_sample_itself() -> None:
    gate = Gate("America/New_York", hours=("18:00-09:30",), days=("mon",))
    check(gate, [
        ("2026-01-05T04:00", False),          # Sun 23:00 EST: in hours, but Sunday (Monday in UTC)
        ("2026-01-05T05:00", True),           # Mon 00:00 EST
        ("2026-01-05T13:00", True),           # Mon 08:00 EST
        ("2026-01-05T14:29:59.999", True),    # Mon 09:29:59.999 EST
        ("2026-01-05T14:30", False),          # Mon 09:30 EST: the end is excluded
        ("2026-01-05T22:59:59.999", False),   # Mon 17:59:59.999 EST
        ("2026-01-05T23:00", True),           # Mon 18:00 EST: the start is included
        ("2026-01-06T04:59:59.999", True),    # Mon 23:59:59.999 EST
        ("2026-01-06T05:00", False),          # Tue 00:00 EST: in hours, but Tuesday
    ])


def test_hours_follow_the_local_clock_across_the_march_dst_change() -> None:
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
    gate = Gate("America/New_York", hours=("09:30-16:00",))
    check(gate, [
        ("2026-03-06T14:29:59.999", False),   # Fri 09:29:59.999 EST
        ("2026-03-06T14:30", True),           # Fri 09:30 EST
        ("2026-03-06T20:59:59.999", True),    # Fri 15:59:59.999 EST
        ("2026-03-06T21:00", False),          # Fri 16:00 EST
        ("2026-03-09T13:29:59.999", False),   # Mon 09:29:59.999 EDT
        ("2026-03-09T13:30", True),           # Mon 09:30 EDT (an hour earlier in UTC)
        ("2026-03-09T19:59:59.999", True),    # Mon 15:59:59.999 EDT
        ("2026-03-09T20:00", False),          # Mon 16:00 EDT
    ])


def test_a_range_inside_the_skipped_hour_never_holds() -> None:
    gate = Gate("America/New_York", hours=("02:00-03:00",))
    check(gate, [
        ("2026-03-08T06:59:59.999", False),   # Sun 01:59:59.999 EST
        ("2026-03-08T07:00", False),          # Sun 03:00 EDT: the clock jumped over 02:00-03:00
        ("2026-03-09T06:30", True),           # Mon 02:30 EDT
    ])


def test_the_repeated_hour_in_november_holds_both_times() -> None:
    # America/New_York: 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
    gate = Gate("America/New_York", hours=("01:00-02:00",))
    check(gate, [
        ("2026-11-01T04:59:59.999", False),   # 00:59:59.999 EDT
        ("2026-11-01T05:00", True),           # 01:00 EDT
        ("2026-11-01T05:59:59.999", True),    # 01:59:59.999 EDT
        ("2026-11-01T06:00", True),           # 01:00 EST, the second time
        ("2026-11-01T06:59:59.999", True),    # 01:59:59.999 EST
        ("2026-11-01T07:00", False),          # 02:00 EST
    ])


def test_days_change_at_local_midnight_on_both_sides_of_the_dst_end() -> None:
    gate = Gate("America/New_York", days=("mon",))
    check(gate, [
        ("2026-10-26T03:59:59.999", False),   # Sun 23:59:59.999 EDT
        ("2026-10-26T04:00", True),           # Mon 00:00 EDT
        ("2026-11-02T04:59:59.999", False),   # Sun 23:59:59.999 EST (was Monday in EDT)
        ("2026-11-02T05:00", True),           # Mon 00:00 EST
        ("2026-11-03T04:59:59.999", True),    # Mon 23:59:59.999 EST
        ("2026-11-03T05:00", False),          # Tue 00:00 EST
    ])


def test_an_end_of_24_00_runs_to_midnight() -> None:
    check(Gate("UTC", hours=("22:00-24:00",)), [
        ("2026-01-05T21:59:59.999", False),
        ("2026-01-05T22:00", True),
        ("2026-01-05T23:59:59.999", True),
        ("2026-01-06T00:00", False),
    ])
    check(Gate("America/New_York", hours=("20:00-24:00",), days=("fri",)), [
        ("2026-01-10T04:59:59.999", True),    # Fri 23:59:59.999 EST
        ("2026-01-10T05:00", False),          # Sat 00:00 EST
    ])
    whole_day = Gate("Asia/Kolkata", hours=("00:00-24:00",))
    check(whole_day, [("2026-01-05T18:29:59.999", True), ("2026-01-05T18:30", True)])


def test_several_ranges_are_alternatives() -> None:
    gate = Gate("Asia/Kolkata", hours=("09:15-11:30", "13:00-15:30"))  # UTC+05:30
    check(gate, [
        ("2026-01-05T03:44:59.999", False),   # 09:14:59.999 IST
        ("2026-01-05T03:45", True),           # 09:15 IST
        ("2026-01-05T06:00", False),          # 11:30 IST
        ("2026-01-05T07:30", True),           # 13:00 IST
        ("2026-01-05T10:00", False),          # 15:30 IST
    ])


# ---------------------------------------------------------------------------- calendars


def test_xnys_is_closed_on_a_holiday_and_open_in_its_session() -> None:
    gate = Gate("America/New_York", calendar="XNYS")
    check(gate, [
        ("2026-01-16T14:29:59.999", False),   # Fri 09:29:59.999 EST
        ("2026-01-16T14:30", True),           # Fri 09:30 EST: the open
        ("2026-01-16T20:59:59.999", True),
        ("2026-01-16T21:00", False),          # 16:00 EST: the close is excluded
        ("2026-01-17T15:00", False),          # Saturday
        ("2026-01-19T15:00", False),          # Martin Luther King Jr. Day
        ("2026-01-20T15:00", True),
    ])


def test_xnys_closes_early_the_day_after_thanksgiving() -> None:
    gate = Gate("America/New_York", calendar="XNYS")
    check(gate, [
        ("2026-11-26T15:00", False),          # Thanksgiving
        ("2026-11-27T14:30", True),           # 09:30 EST
        ("2026-11-27T17:59:59.999", True),    # 12:59:59.999 EST
        ("2026-11-27T18:00", False),          # 13:00 EST: the early close
        ("2026-11-30T20:59:59.999", True),    # next Monday, a full day
    ])


def test_a_cmes_session_spans_midnight() -> None:
    # CMES sessions run 17:00 CT to 17:00 CT (23:00 UTC), opening on the evening before
    gate = Gate("America/Chicago", calendar="CMES")
    check(gate, [
        ("2026-01-02T22:59:59.999", True),    # Fri 16:59:59.999 CST
        ("2026-01-02T23:00", False),          # Fri 17:00 CST: the week's close
        ("2026-01-03T12:00", False),          # Saturday
        ("2026-01-04T22:59:59.999", False),   # Sun 16:59:59.999 CST
        ("2026-01-04T23:00", True),           # Sun 17:00 CST: the Monday session opens
        ("2026-01-05T00:00", True),           # midnight UTC, inside it
        ("2026-01-05T06:00", True),           # Mon 00:00 CST, inside it
        ("2026-01-05T23:00", True),           # Mon 17:00 CST: the Tuesday session at once
        ("2025-12-24T17:59:59.999", True),    # Christmas Eve, 11:59:59.999 CST
        ("2025-12-24T18:00", False),          # its early close
        ("2025-12-25T18:00", False),          # Christmas Day
        ("2025-12-25T23:00", True),           # reopens Thursday 17:00 CST
    ])
    # Combined with hours and days in Chicago time: the session evening only from 18:00
    evening = Gate("America/Chicago", hours=("18:00-09:30",), days=("sun", "mon"), calendar="CMES")
    check(evening, [
        ("2026-01-04T23:30", False),          # Sun 17:30 CST: in session, before 18:00
        ("2026-01-05T00:30", True),           # Sun 18:30 CST
        ("2026-01-05T15:29:59.999", True),    # Mon 09:29:59.999 CST
        ("2026-01-05T15:30", False),          # Mon 09:30 CST
        ("2026-01-03T01:00", False),          # Fri 19:00 CST: in hours, but Friday and closed
    ])


def test_the_hong_kong_lunch_break_is_closed() -> None:
    # XHKG 2026-01-05 (HKT = UTC+8): 09:30-12:00 and 13:00-16:00
    gate = Gate("Asia/Hong_Kong", calendar="XHKG")
    check(gate, [
        ("2026-01-05T01:29:59.999", False),   # 09:29:59.999 HKT
        ("2026-01-05T01:30", True),           # 09:30 HKT
        ("2026-01-05T03:59:59.999", True),    # 11:59:59.999 HKT
        ("2026-01-05T04:00", False),          # 12:00 HKT: the break starts
        ("2026-01-05T04:59:59.999", False),   # 12:59:59.999 HKT
        ("2026-01-05T05:00", True),           # 13:00 HKT: the break ends
        ("2026-01-05T07:59:59.999", True),
        ("2026-01-05T08:00", False),          # 16:00 HKT
    ])


def test_times_the_calendar_cannot_cover_are_reported_not_closed() -> None:
    gate = Gate("Asia/Hong_Kong", calendar="XHKG")  # exchange_calendars knows 1960..2049
    t = np.array([utc("1900-01-02T02:00"), utc("2026-01-05T02:00"), utc("2050-06-01T02:00"),
                  utc("2026-01-05T04:30")], np.int64)
    result = gate.mask(t)
    assert result.uncovered.tolist() == [True, False, True, False]
    assert result.allowed.tolist() == [False, True, False, False]


def test_beyond_what_pandas_timestamps_reach_is_uncovered() -> None:
    gate = Gate("America/New_York", calendar="XNYS")
    t = np.array([utc("1600-01-03T15:00"), utc("2026-01-20T15:00"), utc("2300-01-03T15:00")], np.int64)
    result = gate.mask(t)
    assert result.uncovered.tolist() == [True, False, True]
    assert result.allowed.tolist() == [False, True, False]


def test_a_calendar_that_cannot_be_built_reports_every_time_uncovered(monkeypatch: pytest.MonkeyPatch) -> None:
    import exchange_calendars  # type: ignore[import-untyped]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("implemented by subclasses")

    monkeypatch.setattr(exchange_calendars, "get_calendar", broken)
    gate = Gate("Europe/Athens", calendar="ASEX")
    result = gate.mask(np.array([utc("2026-01-05T10:00"), utc("2026-01-06T10:00")], np.int64))
    assert result.uncovered.tolist() == [True, True]
    assert result.allowed.tolist() == [False, False]
    assert gate.problems == (
        "calendar ASEX cannot be built for 2026-01-05..2026-01-07: NotImplementedError: implemented by subclasses",
    )


def test_tables_extend_when_later_and_earlier_times_arrive() -> None:
    times = [utc("2026-01-16T15:00"), utc("2031-01-16T15:00"), utc("2008-01-16T15:00"),
             utc("2026-01-19T15:00"), utc("2026-07-03T14:30"), utc("2026-07-06T14:30")]
    one_shot = Gate("America/New_York", hours=("10:00-11:00",), days=("mon", "fri"), calendar="XNYS")
    expected = one_shot.mask(np.array(times, np.int64))
    streamed = Gate("America/New_York", hours=("10:00-11:00",), days=("mon", "fri"), calendar="XNYS")
    got = [bool(streamed.mask(np.array([t], np.int64)).allowed[0]) for t in times]
    assert got == expected.allowed.tolist() == [True, False, False, False, False, True]
    # 10:00 EST or 10:30 EDT each; 2031-01-16 is a Thursday, 2008-01-16 a Wednesday,
    # 2026-01-19 is MLK day and 2026-07-03 (a Friday) Independence Day observed


def test_a_stream_cut_into_small_batches_gives_the_one_batch_answer() -> None:
    # every 6h 7min from February to December 2026: both clock changes, an early close,
    # and zone and calendar tables that have to grow as the stream goes on
    t = np.arange(utc("2026-02-01T00:00"), utc("2026-12-01T00:00"), 367 * 60_000, dtype=np.int64)
    config = ("America/New_York", ("09:30-11:00", "15:00-24:00"), ("mon", "wed", "fri", "sun"), "XNYS")
    one_batch = Gate(*config).mask(t).allowed
    streamed = Gate(*config)
    got = np.concatenate([streamed.mask(t[i:i + 10]).allowed for i in range(0, len(t), 10)])
    assert got.tolist() == one_batch.tolist()
    assert 0 < one_batch.sum() < len(t)


def test_importing_the_gates_does_not_import_the_calendars() -> None:
    import subprocess
    import sys

    code = ("import sys, numpy as np; from tradeassist_runner.engine.gates import Gate; "
            "Gate('America/New_York', hours=('09:30-16:00',)).mask(np.array([0])); "
            "print('exchange_calendars' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_equal_configurations_are_equal_gates() -> None:
    a = Gate("America/New_York", hours=("9:30-16:00",), days=("tue", "mon", "mon"), calendar="XNYS")
    b = Gate("America/New_York", hours=("09:30-16:00",), days=("mon", "tue"), calendar="XNYS")
    assert a == b and hash(a) == hash(b)
    assert a.key == ("America/New_York", ("09:30-16:00",), ("mon", "tue"), "XNYS")
    assert Gate("UTC", calendar="XNYS") == Gate("Europe/London", calendar="XNYS")  # no local-time gate


def test_a_bad_configuration_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="start equals the end"):
        Gate("UTC", hours=("10:00-10:00",))
    with pytest.raises(ValueError, match="unknown weekday 'Mon'"):
        Gate("UTC", days=("Mon",))


# --------------------------------------------------------- property: mask == naive


TIMEZONES = ["America/New_York", "America/Chicago", "Europe/London", "Asia/Hong_Kong",
             "Australia/Sydney", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham",
             "Asia/Beirut", "America/Havana", "UTC"]  # Beirut and Havana change at local midnight
CALENDARS = ["XNYS", "CMES", "XHKG", "XLON", "24/7"]
REFERENCE_SPAN = ("2004-01-01", "2031-01-01")  # the property's times stay well inside


@pytest.fixture(scope="module")
def schedules() -> Iterator[dict[str, Any]]:
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations raised inside exchange_calendars
        yield {code: exchange_calendars.get_calendar(code, start=REFERENCE_SPAN[0], end=REFERENCE_SPAN[1]).schedule
               for code in CALENDARS}


def naive_allowed(timezone: str, hours: Sequence[str], days: Sequence[str], schedule: Any, t_ms: int) -> bool:
    """One sample, straight from the rule text, with zoneinfo and the schedule's rows."""
    import pandas as pd  # type: ignore[import-untyped]

    when = EPOCH + timedelta(milliseconds=t_ms)
    local = when.astimezone(ZoneInfo(timezone))
    if hours:
        clock = local.time().replace(tzinfo=None)
        inside = False
        for text in hours:
            start_text, end_text = text.split("-")
            start = time(int(start_text[:2]), int(start_text[3:]))
            end_is_midnight = end_text == "24:00"
            end = time(0) if end_is_midnight else time(int(end_text[:2]), int(end_text[3:]))
            if end_is_midnight:
                inside |= clock >= start
            elif start < end:
                inside |= start <= clock < end
            else:  # end before start: spans midnight
                inside |= clock >= start or clock < end
        if not inside:
            return False
    if days and WEEK[local.weekday()] not in days:
        return False
    if schedule is not None:
        ts = pd.Timestamp(when)
        rows = schedule[(schedule["open"] <= ts) & (ts < schedule["close"])]
        if len(rows) == 0:
            return False
        row = rows.iloc[0]
        if not pd.isna(row["break_start"]) and row["break_start"] <= ts < row["break_end"]:
            return False
    return True


# boundaries at the usual clock-change minutes (00:00-03:00) and sessions, or anywhere
_MINUTE = st.sampled_from([0, 60, 120, 180, 570, 960]) | st.integers(0, 1439)


@st.composite
def hours_ranges(draw: st.DrawFn) -> str:
    start = draw(_MINUTE)
    end = draw((_MINUTE | st.just(1440)).filter(lambda e: e != start))
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@pytest.fixture(scope="module")
def transitions() -> dict[str, list[int]]:
    """Each zone's UTC-offset changes over the property's years (epoch ms, to the
    second), found by a daily scan: used only to aim sample times at them."""
    found: dict[str, list[int]] = {}
    for name in TIMEZONES:
        zone = ZoneInfo(name)

        def offset(ms: int, zone: ZoneInfo = zone) -> timedelta | None:
            return (EPOCH + timedelta(milliseconds=ms)).astimezone(zone).utcoffset()

        out = []
        day = 86_400_000
        t = utc(REFERENCE_SPAN[0] + "T00:00")
        while t < utc(REFERENCE_SPAN[1] + "T00:00"):
            if offset(t) != offset(t + day):
                lo, hi = t, t + day
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if offset(mid) == offset(lo) else (lo, mid)
                out.append(hi)
            t += day
        found[name] = out
    return found


def local_ms(zone: str, day: date, minute: int, fold: int) -> int:
    """Epoch ms of a wall-clock minute of a local day (a skipped time maps as zoneinfo does)."""
    wall = (datetime.combine(day, time(0)) + timedelta(minutes=minute)).replace(tzinfo=ZoneInfo(zone), fold=fold)
    return int((wall - EPOCH) / timedelta(milliseconds=1))


def sample_times(
    data: st.DataObject, timezone: str, hours: list[str], schedule: Any, zone_changes: list[int]
) -> list[int]:
    """Times clustered around a random instant and aimed at the edges that matter: session
    opens, closes and breaks, the hour ranges' local starts and ends, local midnights and
    the zone's offset changes, each exactly and one millisecond either side."""
    import pandas as pd
    in_span = [c for c in zone_changes if utc("2005-01-01T00:00") <= c < utc("2030-01-01T00:00")]
    anywhere = st.integers(utc("2005-01-01T00:00"), utc("2030-01-01T00:00"))
    center = data.draw(anywhere | st.sampled_from(in_span) if in_span else anywhere, label="center")
    spread = data.draw(st.sampled_from([3_600_000, 86_400_000, 30 * 86_400_000]), label="spread")
    minutes = sorted({0} | {int(h[i:i + 2]) * 60 + int(h[i + 3:i + 5]) for h in hours for i in (0, 6)})
    center_day = (EPOCH + timedelta(milliseconds=center)).astimezone(ZoneInfo(timezone)).date()
    kinds = ["uniform", "local"] + (["session"] if schedule is not None else [])
    near = [c for c in zone_changes if abs(c - center) < 400 * 86_400_000]
    kinds += ["zone"] if near else []
    times = []
    for _ in range(data.draw(st.integers(1, 40), label="n")):
        kind = data.draw(st.sampled_from(kinds))
        jitter = data.draw(st.sampled_from([-1, 0, 1]))
        if kind == "uniform":
            times.append(center + data.draw(st.integers(-spread, spread)))
        elif kind == "local":
            day = center_day + timedelta(days=data.draw(st.integers(-3, 3)))
            minute = data.draw(st.sampled_from(minutes))
            times.append(local_ms(timezone, day, minute, data.draw(st.integers(0, 1))) + jitter)
        elif kind == "session":
            opens = schedule["open"]
            i0 = int(opens.searchsorted(pd.Timestamp(center, unit="ms", tz="UTC")))
            i = min(max(i0 + data.draw(st.integers(-5, 5)), 0), len(schedule) - 1)
            edge = schedule.iloc[i][data.draw(st.sampled_from(["open", "close", "break_start", "break_end"]))]
            if pd.isna(edge):
                edge = schedule.iloc[i]["open"]
            times.append(int(edge.value // 1_000_000) + jitter)
        else:
            change = data.draw(st.sampled_from(near))
            times.append(change + data.draw(st.sampled_from([0, -1, 1, -3_600_000, 3_600_000, -1800_000])) + jitter)
    return times


@settings(max_examples=int(os.environ.get("GATE_EXAMPLES", "80")), deadline=None)
@given(
    data=st.data(),
    timezone=st.sampled_from(TIMEZONES),
    hours=st.lists(hours_ranges(), max_size=3),
    days=st.lists(st.sampled_from(WEEK), max_size=6, unique=True),
    calendar=st.sampled_from([None, None, *CALENDARS]),
)
def test_the_vectorized_mask_equals_a_per_sample_evaluation(
    schedules: dict[str, Any], transitions: dict[str, list[int]], data: st.DataObject,
    timezone: str, hours: list[str], days: list[str], calendar: str | None,
) -> None:
    schedule = None if calendar is None else schedules[calendar]
    times = sample_times(data, timezone, hours, schedule, transitions[timezone])
    gate = Gate(timezone, tuple(hours), tuple(days), calendar)
    t = np.array(times, np.int64)
    # one gate fed in two batches: later (or earlier) times may extend its tables
    cut = data.draw(st.integers(0, len(times)), label="cut")
    result = [gate.mask(t[:cut]), gate.mask(t[cut:])]
    assert not any(r.uncovered.any() for r in result)
    allowed = np.concatenate([r.allowed for r in result]).tolist()
    expected = [naive_allowed(timezone, hours, days, schedule, x) for x in times]
    assert allowed == expected
