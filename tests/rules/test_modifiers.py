"""Gate modifier fields as a user meets them: a YAML file, a located message per mistake."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from tradeassist_runner.config.explain import explain
from tradeassist_runner.config.yaml_source import parse_yaml
from tradeassist_runner.rules.modifiers import (
    CalendarCode,
    HoursRange,
    Timezone,
    Weekday,
    parse_hours,
)


class Gated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: Timezone = "America/New_York"
    hours: list[HoursRange] = []
    days: list[Weekday] = []
    calendar: CalendarCode | None = None


def problems(text: str) -> list[str]:
    doc = parse_yaml(text, "rules.d/es.yaml")
    try:
        Gated.model_validate(doc.data)
    except ValidationError as exc:
        return [str(p) for p in explain(exc, doc, Gated)]
    return []


def valid(text: str) -> dict[str, Any]:
    doc = parse_yaml(text, "rules.d/es.yaml")
    return Gated.model_validate(doc.data).model_dump()


# ---------------------------------------------------------------------------- timezone


def test_iana_timezones_are_accepted_as_written() -> None:
    assert valid("timezone: Europe/London\n")["timezone"] == "Europe/London"
    assert valid("timezone: UTC\n")["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("america/new_york", "unknown timezone 'america/new_york'; did you mean America/New_York?"),
        ("New_York", "unknown timezone 'New_York'; did you mean America/New_York?"),
        ("America/New_Yrok", "unknown timezone 'America/New_Yrok'; did you mean America/New_York?"),
        ("Mars/Olympus", ("unknown timezone 'Mars/Olympus'; use an IANA name such as America/New_York, "
                          "America/Chicago, Europe/London or UTC")),
        ("/etc/passwd", ("unknown timezone '/etc/passwd'; use an IANA name such as America/New_York, "
                         "America/Chicago, Europe/London or UTC")),
    ],
)
def test_an_unknown_timezone_is_located_with_a_suggestion(written: str, message: str) -> None:
    assert problems(f"calendar: XNYS\ntimezone: {written}\n") == [f"rules.d/es.yaml:2:11: timezone: {message}"]


def test_a_timezone_that_is_not_a_string_is_explained() -> None:
    assert problems("timezone: 5\n") == [
        "rules.d/es.yaml:1:11: timezone: must be an IANA name such as America/New_York, got 5"
    ]


# ------------------------------------------------------------------------------- hours


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:30-16:00", (570, 960)),
        ("18:00-09:30", (1080, 570)),  # spans midnight
        ("22:00-24:00", (1320, 1440)),
        ("00:00-24:00", (0, 1440)),
        ("9:30 - 16:00", (570, 960)),
        ("23:59-00:00", (1439, 0)),
    ],
)
def test_parse_hours_gives_minutes_since_local_midnight(text: str, expected: tuple[int, int]) -> None:
    assert parse_hours(text) == expected


def test_hours_stay_strings_in_canonical_form() -> None:
    assert valid('hours: ["9:30-16:00", "18:00-09:30"]\n')["hours"] == ["09:30-16:00", "18:00-09:30"]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("25:00-26:00", "invalid hours '25:00-26:00': hours are 00-23 (24:00 allowed as an end)"),
        ("09:60-10:00", "invalid hours '09:60-10:00': minutes are 00-59"),
        ("24:00-09:00", "invalid hours '24:00-09:00': 24:00 is allowed only as an end"),
        ("09:00-24:30", "invalid hours '09:00-24:30': hours are 00-23 (24:00 allowed as an end)"),
        ("09:30-09:30", ("invalid hours '09:30-09:30': the start equals the end (an empty range); "
                         "for the whole day write 00:00-24:00")),
        ("9am-4pm", ("invalid hours '9am-4pm': write HH:MM-HH:MM, e.g. 09:30-16:00 "
                     "(an end before the start spans midnight, e.g. 18:00-09:30)")),
    ],
)
def test_a_malformed_hours_range_is_located(written: str, message: str) -> None:
    assert problems(f'hours:\n  - "10:00-11:00"\n  - "{written}"\n') == [
        f"rules.d/es.yaml:3:5: hours[1]: {message}"
    ]


# ----------------------------------------------------------------------------- weekday


def test_weekdays_are_lower_case_three_letter_names() -> None:
    assert valid("days: [mon, tue, wed, thu, fri, sat, sun]\n")["days"] == [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun"
    ]


@pytest.mark.parametrize(
    ("written", "hint"),
    [("Tue", " (did you mean tue?)"), ("Tuesday", " (did you mean tue?)"), ("fir", " (did you mean fri?)"),
     ("xyz", "")],
)
def test_an_unknown_weekday_lists_the_names(written: str, hint: str) -> None:
    assert problems(f"days: [mon, {written}]\n") == [
        (f"rules.d/es.yaml:1:13: days[1]: unknown weekday '{written}'; "
         f"use mon, tue, wed, thu, fri, sat, sun{hint}")
    ]


# ---------------------------------------------------------------------------- calendar


def test_calendar_codes_and_aliases_are_accepted() -> None:
    assert valid("calendar: XNYS\n")["calendar"] == "XNYS"
    assert valid("calendar: CMES\n")["calendar"] == "CMES"
    assert valid("calendar: NYSE\n")["calendar"] == "NYSE"  # an exchange_calendars alias


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("XNSY", "unknown calendar 'XNSY'; did you mean XNYS?"),
        ("xnys", "unknown calendar 'xnys'; did you mean XNYS?"),
        ("QQQQQQ", "unknown calendar 'QQQQQQ'; use an exchange_calendars code such as XNYS, CMES, XLON or XHKG"),
    ],
)
def test_an_unknown_calendar_gets_a_did_you_mean(written: str, message: str) -> None:
    assert problems(f"timezone: UTC\ncalendar: {written}\n") == [f"rules.d/es.yaml:2:11: calendar: {message}"]


def test_every_mistake_is_reported_at_once() -> None:
    assert problems('timezone: Nowhere/City\nhours: ["9-5"]\ndays: [Mon]\ncalendar: XNSY\n') == [
        ("rules.d/es.yaml:1:11: timezone: unknown timezone 'Nowhere/City'; use an IANA name such as "
         "America/New_York, America/Chicago, Europe/London or UTC"),
        ("rules.d/es.yaml:2:9: hours[0]: invalid hours '9-5': write HH:MM-HH:MM, e.g. 09:30-16:00 "
         "(an end before the start spans midnight, e.g. 18:00-09:30)"),
        ("rules.d/es.yaml:3:8: days[0]: unknown weekday 'Mon'; use mon, tue, wed, thu, fri, sat, sun "
         "(did you mean mon?)"),
        "rules.d/es.yaml:4:11: calendar: unknown calendar 'XNSY'; did you mean XNYS?",
    ]


def test_json_schema_describes_the_fields() -> None:
    props = Gated.model_json_schema()["properties"]
    assert props["days"]["items"]["enum"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert "HH:MM-HH:MM" in props["hours"]["items"]["description"]
    assert props["timezone"]["type"] == "string"
