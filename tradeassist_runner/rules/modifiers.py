"""Field types for the rule modifiers that gate firing: timezone, hours, days, calendar.

Each type validates what a user writes and, when it is wrong, says what would be right
(with a did-you-mean where a near miss is likely), because the loader shows the message
as ``PATH:LINE:COLUMN: message`` and that line is all the user gets.  Validated values
stay the strings the user wrote (hours in canonical ``HH:MM-HH:MM`` form), so config
dumps and rule fingerprints read naturally; `parse_hours` turns a range into minutes.

Validation is cheap on purpose: a zone is checked by loading it (zoneinfo caches it),
a calendar code by name lookup in exchange_calendars' registry.  Neither lists every
zone nor constructs a calendar unless the value is wrong and a suggestion is needed.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names in ISO order: index 0 is Monday, as ``datetime.weekday()``."""

MINUTES_PER_DAY = 1440

# --------------------------------------------------------------------------- timezone


def _as_yaml(value: Any) -> str:
    """A scalar as the YAML file spells it (``true``, ``null``, ``123``), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, (int, float, str)) else f"a {'list' if isinstance(value, list) else 'mapping'}"


def _zone_suggestion(name: str) -> str | None:
    """The IANA name the user most likely meant: same letters in another case, the
    same city (``New_York`` -> ``America/New_York``), or a close spelling."""
    names = sorted(zoneinfo.available_timezones())
    wanted = name.strip().replace(" ", "_").lower()
    by_lower = {n.lower(): n for n in names}
    if wanted in by_lower:
        return by_lower[wanted]
    cities = [n for n in names if n.lower().rsplit("/", 1)[-1] == wanted]
    if cities:
        return min(cities, key=len)
    close = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
            f"timezone must be an IANA name such as America/New_York, got {_as_yaml(value)}"
        )
    try:
        zoneinfo.ZoneInfo(value)
        known = bool(value) and value == value.strip()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        known = False
    if known:
        return value
    suggestion = _zone_suggestion(value)
    if suggestion is not None:
        raise ValueError(f"unknown timezone {value!r}; did you mean {suggestion}?")
    raise ValueError(
        f"unknown timezone {value!r}; use an IANA name such as America/New_York, "
        "America/Chicago, Europe/London or UTC"
    )


Timezone = Annotated[
    str,
    BeforeValidator(_timezone),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An IANA timezone name",
            "examples": ["America/New_York", "America/Chicago", "Europe/London", "UTC"],
        }
    ),
]

# ------------------------------------------------------------------------------ hours

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_HOURS_HELP = "write HH:MM-HH:MM, e.g. 09:30-16:00 (an end before the start spans midnight, e.g. 18:00-09:30)"


def parse_hours(text: str) -> tuple[int, int]:
    """``(start, end)`` in minutes since local midnight; ``end`` is 1440 for ``24:00``
    and is smaller than ``start`` for a range that spans midnight.  Raises
    ``ValueError`` with a message fit for a user."""
    m = _HOURS.match(text)
    if m is None:
        raise ValueError(f"invalid hours {text!r}: {_HOURS_HELP}")
    sh, sm, eh, em = (int(g) for g in m.groups())
    if sm > 59 or em > 59:
        raise ValueError(f"invalid hours {text!r}: minutes are 00-59")
    if sh == 24:
        raise ValueError(f"invalid hours {text!r}: 24:00 is allowed only as an end")
    if sh > 23 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"invalid hours {text!r}: hours are 00-23 (24:00 allowed as an end)")
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end:
        raise ValueError(
            f"invalid hours {text!r}: the start equals the end (an empty range); "
            "for the whole day write 00:00-24:00"
        )
    return start, end


def format_hours(start: int, end: int) -> str:
    """The canonical spelling of a range (``09:30-16:00``)."""
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def _hours(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"invalid hours {value!r}: must be a string; {_HOURS_HELP}")  # noqa: TRY004
    return format_hours(*parse_hours(value))


HoursRange = Annotated[
    str,
    BeforeValidator(_hours),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$",
            "description": (
                "Local time range HH:MM-HH:MM, half-open [start, end); 24:00 allowed as an end; "
                "an end before the start spans midnight"
            ),
            "examples": ["09:30-16:00", "18:00-09:30", "00:00-24:00"],
        }
    ),
]

# ---------------------------------------------------------------------------- weekday

_WEEKDAY_LIST = ", ".join(WEEKDAYS)


def _weekday_suggestion(text: str) -> str | None:
    wanted = text.strip().lower()
    if wanted in WEEKDAYS:
        return wanted
    if len(wanted) >= 3 and wanted[:3] in WEEKDAYS:  # "Tuesday", "thurs"
        return wanted[:3]
    close = difflib.get_close_matches(wanted, WEEKDAYS, n=1, cutoff=0.6)
    return close[0] if close else None


def _weekday(value: Any) -> str:
    if isinstance(value, str) and value in WEEKDAYS:
        return value
    if isinstance(value, str) and "-" in value:  # "mon-fri": a range, which the list form spells out
        head, _, tail = value.partition("-")
        first, last = _weekday_suggestion(head), _weekday_suggestion(tail)
        if first is not None and last is not None:
            a, b = WEEKDAYS.index(first), WEEKDAYS.index(last)
            days = WEEKDAYS[a : b + 1] if a <= b else WEEKDAYS[a:] + WEEKDAYS[: b + 1]
            raise ValueError(f"unknown weekday {value!r}: list the days one by one, e.g. [{', '.join(days)}]")
    hint = _weekday_suggestion(value) if isinstance(value, str) else None
    tail = f" (did you mean {hint}?)" if hint is not None else ""
    raise ValueError(f"unknown weekday {value!r}; use {_WEEKDAY_LIST}{tail}")


Weekday = Annotated[
    Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    BeforeValidator(_weekday),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(WEEKDAYS),
            "description": "Lower-case three-letter weekday name",
        }
    ),
]

# --------------------------------------------------------------------------- calendar


def calendar_names() -> list[str]:
    """Every code exchange_calendars accepts (aliases included), sorted.

    exchange_calendars pulls in pandas (about a second) to list its names, so the codes
    of the version the list in ``calendar_codes`` was taken from are read from there when
    that is the installed version; any other version is asked itself.
    """
    from importlib.metadata import PackageNotFoundError, version

    from .calendar_codes import CODES, VERSION

    try:
        installed = version("exchange_calendars")
    except PackageNotFoundError:
        installed = None
    if installed == VERSION:
        return list(CODES)
    import exchange_calendars  # type: ignore[import-untyped]

    return list(exchange_calendars.get_calendar_names(include_aliases=True))


def _calendar(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
            f"calendar must be an exchange calendar code such as XNYS or CMES, got {_as_yaml(value)}"
        )
    names = calendar_names()
    if value in names:
        return value
    by_upper = {n.upper(): n for n in names}
    wanted = value.strip().upper()
    hint = by_upper.get(wanted)
    if hint is None:
        close = difflib.get_close_matches(wanted, list(by_upper), n=1, cutoff=0.6)
        hint = by_upper[close[0]] if close else None
    if hint is not None:
        raise ValueError(f"unknown calendar {value!r}; did you mean {hint}?")
    raise ValueError(
        f"unknown calendar {value!r}; use an exchange_calendars code such as XNYS, CMES, XLON or XHKG"
    )


CalendarCode = Annotated[
    str,
    BeforeValidator(_calendar),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An exchange_calendars code (trading sessions, holidays, early closes)",
            "examples": ["XNYS", "CMES", "XLON", "XHKG"],
        }
    ),
]
