"""``vwap``: percent distance from the VWAP since the latest local ``anchor``."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradeassist_runner.rules.seam import Params, RuleType, Samples
from tradeassist_runner.rules.types.vwap import RULE_TYPE, Body, anchor_instants

from .cutting import bits_equal, check_cut_independent, check_replay, cuts_strategy

NAN = math.nan
NY = "America/New_York"


def ms(iso: str) -> int:
    return (datetime.fromisoformat(iso).replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def body(**fields: object) -> Body:
    return Body.model_validate({"type": "vwap", "condition": "above", "threshold": 0.5, **fields})


def ticks(rows: list[tuple[int, float, float | None]]) -> Samples:
    """(ts, price, volume) rows."""
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    price = np.array([r[1] for r in rows], dtype=np.float64)
    volume = np.array([NAN if r[2] is None else r[2] for r in rows], dtype=np.float64)
    return Samples.of_ticks(ts, price, volume)


def naive_anchor(ts: int, anchor: str, timezone: str) -> int:
    """The latest instant at or before ``ts`` whose local clock reads ``anchor`` (the first
    showing when the clock shows it twice), found by walking back through UTC minutes.
    Every offset in use is a multiple of 15 minutes, so only every 15th minute can match."""
    zone = ZoneInfo(timezone)
    hour, minute = int(anchor[:2]), int(anchor[3:])
    m = ts // 60_000
    m -= (m - minute) % 15
    while True:
        local = datetime.fromtimestamp(m * 60, zone)
        if (local.hour, local.minute, local.fold) == (hour, minute, 0):
            return m * 60_000
        m -= 15


def naive(params: Params, rows: list[tuple[int, float, float | None]]) -> list[float]:
    """Straight from the rule text, one tick at a time."""
    anchor, timezone = params
    assert isinstance(anchor, str) and isinstance(timezone, str)
    out = []
    for i, (ts, price, _) in enumerate(rows):
        start = naive_anchor(ts, anchor, timezone)
        pv = vs = 0.0
        for t_j, p_j, v_j in rows[: i + 1]:
            if t_j >= start and v_j is not None:
                pv += p_j * v_j
                vs += v_j
        if vs == 0:
            out.append(NAN)
            continue
        vwap = pv / vs
        distance = NAN if vwap == 0 else (price - vwap) / abs(vwap) * 100
        out.append(distance if math.isfinite(distance) else NAN)  # beyond float range: undefined
    return out


def test_satisfies_the_protocol() -> None:
    rule_type: RuleType = RULE_TYPE
    assert (rule_type.name, rule_type.bars, rule_type.in_conjunctions) == ("vwap", False, True)
    assert rule_type.input_names == ("price", "vwap", "volume_sum", "pv_sum")
    params = rule_type.params(body(anchor="09:30"), NY)
    assert params == ("09:30", NY)
    assert rule_type.params(body(), "Europe/London") == ("00:00", "Europe/London")
    assert rule_type.describe(params) == "distance from VWAP (anchor 09:30 America/New_York) %"
    assert rule_type.placeholders(params) == {"anchor": "09:30", "timezone": NY}


def test_anchor_0930_across_the_march_and_november_clock_changes() -> None:
    params = ("09:30", NY)
    rows: list[tuple[int, float, float | None]] = [
        (ms("2026-03-06T14:35:00"), 100.0, 10),  # Fri 09:35 EST: anchored at 14:30Z
        (ms("2026-03-06T20:00:00"), 104.0, 30),  # same period: VWAP (1000 + 3120) / 40 = 103
        (ms("2026-03-09T13:20:00"), 110.0, 10),  # Mon 09:20 EDT: Sunday's 09:30 EDT (13:30Z) period
        (ms("2026-03-09T13:40:00"), 120.0, 10),  # Mon 09:40 EDT: new period from 13:30Z -> VWAP 120
        (ms("2026-11-02T13:40:00"), 50.0, 1),  # Mon 08:40 EST: Sunday's 09:30 EST (14:30Z) period
        (ms("2026-11-02T14:29:59.999"), 60.0, 1),  # Mon 09:29:59.999 EST: same period, VWAP 55
        (ms("2026-11-02T14:30:00"), 70.0, 1),  # Mon 09:30 EST exactly: a new period
    ]
    values, state = RULE_TYPE.values(params, ticks(rows), None)
    assert bits_equal(values.inputs["vwap"], [100.0, 103.0, 110.0, 120.0, 50.0, 55.0, 70.0])
    assert bits_equal(
        values.value, [0.0, (104.0 - 103.0) / 103.0 * 100, 0.0, 0.0, 0.0, (60.0 - 55.0) / 55.0 * 100, 0.0]
    )
    assert state == {
        "anchor": ms("2026-11-02T14:30:00"), "next_anchor": ms("2026-11-03T14:30:00"), "pv_sum": 70.0, "volume_sum": 1.0,
    }
    # Cut anywhere, or one tick per batch: a batch may end exactly on the next anchor.
    for cuts in [*([k] for k in range(len(rows) + 1)), list(range(len(rows)))]:
        check_cut_independent(RULE_TYPE, params, ticks(rows), cuts)


def test_an_anchor_the_spring_forward_clock_skips_gives_no_anchor_that_day() -> None:
    # 02:30 does not exist in New York on Sunday 2026-03-08 (02:00 EST -> 03:00 EDT).
    params = ("02:30", NY)
    rows: list[tuple[int, float, float | None]] = [
        (ms("2026-03-07T07:40:00"), 100.0, 1),  # Sat 02:40 EST: anchored at Sat 02:30 (07:30Z)
        (ms("2026-03-08T08:00:00"), 200.0, 1),  # Sun 04:00 EDT: still Saturday's period
        (ms("2026-03-09T06:40:00"), 300.0, 1),  # Mon 02:40 EDT: anchored at Mon 02:30 (06:30Z)
    ]
    values, _ = RULE_TYPE.values(params, ticks(rows), None)
    assert bits_equal(values.inputs["vwap"], [100.0, 150.0, 300.0])
    assert bits_equal(values.value, [0.0, (200.0 - 150.0) / 150.0 * 100, 0.0])
    days = np.array([ms("2026-03-08T12:00:00") // 86_400_000])
    instants = anchor_instants(days, "02:30", NY).tolist()
    assert ms("2026-03-07T07:30:00") in instants and ms("2026-03-09T06:30:00") in instants
    assert not any(ms("2026-03-08T00:00:00") <= x < ms("2026-03-09T00:00:00") for x in instants)


def test_an_anchor_the_clock_shows_twice_anchors_at_the_first() -> None:
    # 01:30 shows twice in New York on Sunday 2026-11-01: 05:30Z (EDT), then 06:30Z (EST).
    params = ("01:30", NY)
    rows: list[tuple[int, float, float | None]] = [
        (ms("2026-11-01T05:20:00"), 100.0, 1),  # 01:20 EDT: Saturday's period
        (ms("2026-11-01T05:40:00"), 110.0, 1),  # 01:40 EDT: the first 01:30 -> VWAP 110
        (ms("2026-11-01T06:40:00"), 120.0, 1),  # 01:40 EST: still the first 01:30's period
    ]
    values, _ = RULE_TYPE.values(params, ticks(rows), None)
    assert bits_equal(values.inputs["vwap"], [100.0, 110.0, 115.0])
    assert bits_equal(values.value, [0.0, 0.0, (120.0 - 115.0) / 115.0 * 100])


def test_null_and_zero_volumes_and_a_zero_vwap() -> None:
    params = ("00:00", "UTC")
    rows: list[tuple[int, float, float | None]] = [
        (1000, 100.0, None),  # no volume yet: undefined
        (2000, 100.0, 0),  # anchored volume still 0: undefined
        (3000, 100.0, 2),  # VWAP 100
        (4000, 103.0, None),  # null volume still has a value against VWAP 100: +3 %
        (5000, 0.0, 1),  # VWAP 200/3
        (86_400_000, 0.0, 5),  # a new day: VWAP 0 -> undefined
        (86_400_001, 4.0, None),  # still VWAP 0
    ]
    values, _ = RULE_TYPE.values(params, ticks(rows), None)
    assert bits_equal(values.inputs["volume_sum"], [0, 0, 2, 2, 3, 5, 5])
    assert bits_equal(values.value, [NAN, NAN, 0.0, 3.0, (0.0 - 200 / 3) / (200 / 3) * 100, NAN, NAN])
    inputs = {k: float(values.inputs[k][3]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain(params, inputs, 3.0) == (
        "The price was 103 against a VWAP of 100 since the 00:00 UTC anchor "
        "(Σ price·volume 200 / Σ volume 2): (103 - 100) / |100| * 100 = 3 %."
    )
    first = {k: float(values.inputs[k][0]) for k in RULE_TYPE.input_names}
    assert RULE_TYPE.explain(params, first, NAN) == (
        "The price was 100, with no volume traded since the 00:00 UTC anchor yet: no VWAP."
    )


@pytest.mark.parametrize("anchor", ["24:00", "9:30", "09:60", "0930", " 09:30", "09:30:00"])
def test_body_rejects_a_malformed_anchor(anchor: str) -> None:
    with pytest.raises(ValidationError, match=f"anchor must be a local time HH:MM from 00:00 to 23:59 .*'{anchor}'"):
        body(anchor=anchor)


def test_body_rejects_a_non_text_anchor_and_bar() -> None:
    with pytest.raises(ValidationError, match="anchor must be a local time HH:MM .*got 930"):
        body(anchor=930)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        body(bar="5m")
    assert body(anchor="23:59").anchor == "23:59"


#: (timezone, a start shortly before one of its clock changes, anchors near that change).
BASES = [
    (NY, "2026-03-08T04:00:00", ["01:59", "02:00", "02:30", "03:00"]),  # 02:00 EST -> 03:00 EDT
    (NY, "2026-11-01T03:00:00", ["01:00", "01:30", "01:59", "02:00"]),  # 02:00 EDT -> 01:00 EST
    ("Europe/London", "2026-03-28T23:00:00", ["01:00", "01:30", "02:00"]),  # 01:00 GMT -> 02:00 BST
    ("Europe/London", "2026-10-25T00:00:00", ["01:00", "01:30", "02:00"]),  # 02:00 BST -> 01:00 GMT
    ("Australia/Lord_Howe", "2026-04-04T13:00:00", ["01:30", "01:45", "02:00"]),  # 02:00 -> 01:30
    ("Australia/Lord_Howe", "2026-10-03T13:00:00", ["02:00", "02:15", "02:29"]),  # 02:00 -> 02:30
    ("Asia/Kolkata", "2026-01-01T00:00:00", ["05:30", "00:00"]),
]


@st.composite
def streams(draw: st.DrawFn) -> tuple[Params, list[tuple[int, float, float | None]]]:
    timezone, base, near = draw(st.sampled_from(BASES))
    anchor = draw(st.sampled_from([*near, *near, "00:00", "09:30", "23:59"]))
    gaps = draw(st.lists(
        st.sampled_from([0, 1, 60_000, 600_000, 900_000, 1_800_000, 3_600_000, 14_400_000, 86_400_000]),
        max_size=30,
    ))
    ts = np.cumsum([ms(base), *gaps]).tolist()
    prices = draw(st.lists(st.sampled_from([100.0, 101.5, 0.0, -5.0, 0.1, 6012.37, 99.13, 1234.5678]), min_size=len(ts), max_size=len(ts)))
    volumes = draw(st.lists(st.sampled_from([None, 0, 1, 3, 7, 13, 250]), min_size=len(ts), max_size=len(ts)))
    return (anchor, timezone), list(zip(ts, prices, volumes))


@settings(max_examples=150)
@given(streams(), cuts_strategy())
def test_cut_independent_naive_and_replayable(
    s: tuple[Params, list[tuple[int, float, float | None]]], cuts: list[int]
) -> None:
    params, rows = s
    whole = check_cut_independent(RULE_TYPE, params, ticks(rows), cuts)
    assert bits_equal(whole.value, naive(params, rows))
    check_replay(RULE_TYPE, params, whole)
