"""The compact tick notation of rule tests, and the time spellings tests use.

A rule test needs a handful of ticks, and a table of ISO timestamps would bury the
prices that matter. So a series per symbol is one line, read left to right, one tick
per token, each ``interval`` after the previous one (like promtool's series notation)::

    /ES: "6005 6008 6011:250 _ 6012x3 @14:31:00 6001 @+5m 5990"

    6005        a tick at price 6005, no volume
    6011:250    price 6011, volume 250
    6012x3      three ticks at 6012 (6012:40x3: with volume 40 each)
    _           no tick in this step (time still advances)
    @14:31:00   the next tick is at 14:31:00 UTC on the test's day
    @+5m        the next tick is 5m after the previous one (after start for the first)
    @2026-01-05T14:31:00.250Z   a full ISO-8601 time

Times (in ``@``, ``start`` and an expected alert's ``at``) are ``HH:MM:SS[.mmm]`` on
the day of ``start``, ``+DURATION`` from ``start``, or ISO-8601. All UTC.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from ..config.durations import parse_duration, to_ms
from ..timefmt import parse_iso, to_epoch_ms

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$")
_TICK = re.compile(r"^(?P<price>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?::(?P<volume>\d+))?(?:x(?P<repeat>\d+))?$")
_MAX_REPEAT = 100_000


class NotationError(ValueError):
    """A bad token; ``offset`` is where it starts in the series text (0-based)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Tick:
    ts_ms: int
    price: float
    volume: int | None


def parse_time(text: str, start: datetime, *, relative_to_ms: int | None = None) -> int:
    """Epoch ms of ``HH:MM:SS[.mmm]`` (on start's UTC day), ``+DURATION`` or ISO-8601.

    ``+DURATION`` counts from ``relative_to_ms`` when given (``@+5m`` in a series),
    else from ``start``.
    """
    s = text.strip()
    if s.startswith("+"):
        base = to_epoch_ms(start) if relative_to_ms is None else relative_to_ms
        return base + to_ms(parse_duration(s[1:]))
    clock = _CLOCK.match(s)
    if clock:
        hh, mm, ss, frac = clock.groups()
        if int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
            raise ValueError(f"invalid time of day {text!r}")
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        ms = ((int(hh) * 60 + int(mm)) * 60 + int(ss or 0)) * 1000 + int((frac or "0").ljust(3, "0"))
        return to_epoch_ms(day) + ms
    try:
        return to_epoch_ms(parse_iso(s))
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use HH:MM:SS[.mmm] (on the test's day), +DURATION "
            "(from start) or ISO-8601 like 2026-01-05T14:30:00.250Z"
        ) from None


def parse_series(text: str, start: datetime, interval_ms: int) -> list[Tick]:
    """The ticks one series string stands for; :class:`NotationError` points at a token."""
    ticks: list[Tick] = []
    now = to_epoch_ms(start)
    for match in re.finditer(r"[^\s,]+", text):
        token, offset = match.group(), match.start()
        if token == "_":
            now += interval_ms
            continue
        if token.startswith("@"):
            try:
                at = parse_time(token[1:], start, relative_to_ms=ticks[-1].ts_ms if ticks else None)
            except ValueError as exc:
                raise NotationError(str(exc), offset) from None
            if at < now and ticks:
                raise NotationError(
                    f"time {token[1:]!r} is earlier than the previous tick: a series goes forward in time", offset
                )
            now = at
            continue
        tick = _TICK.match(token)
        if tick is None:
            raise NotationError(
                f"cannot read {token!r}: write PRICE, PRICE:VOLUME, PRICExN, _ (a gap) or @TIME", offset
            )
        price = float(tick["price"])
        if not math.isfinite(price):
            raise NotationError(f"price {token!r} is not a finite number", offset)
        volume = int(tick["volume"]) if tick["volume"] is not None else None
        repeat = int(tick["repeat"] or 1)
        if not 1 <= repeat <= _MAX_REPEAT:
            raise NotationError(f"repeat count must be 1..{_MAX_REPEAT}, got {repeat}", offset)
        for _ in range(repeat):
            ticks.append(Tick(now, price, volume))
            now += interval_ms
    return ticks


def start_of(text: str) -> datetime:
    """``start:`` as an aware UTC datetime (ISO-8601; a bare date means midnight)."""
    return parse_iso(text)
