"""Firing gates: trading hours, weekdays and exchange calendars, over sample times.

A gate only decides whether a rule may *fire* at a sample; it never touches value or
firing state.  Everything is vectorized over the batch: local times come from a table
of the zone's UTC-offset changes (one zoneinfo call per day of span, plus a short
bisection per change), calendar sessions from ``searchsorted`` over the session opens.

Each `Gate` owns its lookup tables and builds them lazily for the span of times it is
actually asked about, extending them when later (or earlier) times arrive, so a live
runner pays once per month of zone table and once per year of calendar, and a gate that
is never used costs nothing.  There are no module-level caches.

A time the calendar cannot cover (outside what exchange_calendars can build for that
code, or a calendar this installation cannot build at all) is reported as
``uncovered`` and is not allowed: never silently taken as a closed market.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from ..logs import log
from ..rules.modifiers import MINUTES_PER_DAY, WEEKDAYS, format_hours, parse_hours

logger = logging.getLogger("tradeassist.gates")

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

_DAY_S = 86_400
_DAY_MS = 86_400_000
_MINUTE_MS = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
# zoneinfo works on datetimes: keep a day clear of year 1 and year 9999 so a local time
# never overflows.  Beyond these, the edge offsets are used.
_ZONE_FIRST_S = int((datetime(1, 1, 3, tzinfo=UTC) - _EPOCH).total_seconds())
_ZONE_LAST_S = int((datetime(9999, 12, 29, tzinfo=UTC) - _EPOCH).total_seconds())
# How far beyond the asked-for times a table is built, so a live stream extends rarely.
_ZONE_AHEAD_DAYS = 31
_ZONE_BEHIND_DAYS = 1
# A calendar is built from 1 January of the year before the first time asked about to 31
# December of the year after the last: whole years, so spans repeat (exchange_calendars
# keeps the last calendar it built per code) and a live stream rebuilds about once a year.
_CALENDAR_MARGIN_YEARS = 1
# pandas (nanosecond timestamps) bounds every exchange_calendars calendar.
_CALENDAR_FIRST_DAY = (date(1678, 1, 1) - _EPOCH_DATE).days
_CALENDAR_LAST_DAY = (date(2262, 1, 1) - _EPOCH_DATE).days
_FIRST_DATE_DAY = (date.min - _EPOCH_DATE).days
_LAST_DATE_DAY = (date.max - _EPOCH_DATE).days
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class GateResult:
    """Per sample: whether every gate lets the rule fire, and whether the calendar could
    not say (then ``allowed`` is False, and the caller should report it)."""

    allowed: B
    uncovered: B


class _ZoneTable:
    """UTC-offset changes of one zone over a span, for vectorized local times.

    The offset is sampled once per day and each change is bisected to the second.  That
    is exact because no two changes in the IANA data are less than about a week apart
    (the smallest gap is 6.9 days), so a day never hides a pair of changes.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        # One snapshot, replaced whole, so a reader never pairs new starts with old
        # offsets: covered span [lo, hi] (seconds, whole days), change points, offsets (ms).
        self._table: tuple[int, int, I64, I64] = (0, -1, np.zeros(0, np.int64), np.zeros(0, np.int64))

    def _offset_s(self, s: int) -> int:
        off = (_EPOCH + timedelta(seconds=s)).astimezone(self._zone).utcoffset()
        return 0 if off is None else int(off.total_seconds())

    def _segment(self, a: int, b: int) -> tuple[list[int], list[int]]:
        """Change points and offsets over [a, b] (seconds, whole days apart), in ms."""
        points = list(range(a, b + 1, _DAY_S))
        offsets = [self._offset_s(p) for p in points]
        starts, offs = [a], [offsets[0]]
        for i in range(1, len(points)):
            if offsets[i] == offsets[i - 1]:
                continue
            lo, hi = points[i - 1], points[i]  # offset(lo) = old, offset(hi) = new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._offset_s(mid) == offsets[i - 1]:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offs.append(offsets[i])
        return [x * 1000 for x in starts], [x * 1000 for x in offs]

    def _cover(self, t_min: int, t_max: int) -> None:
        want_lo = (t_min // _DAY_MS - _ZONE_BEHIND_DAYS) * _DAY_S
        want_hi = (t_max // _DAY_MS + 1 + _ZONE_AHEAD_DAYS) * _DAY_S
        want_lo = min(max(want_lo, _ZONE_FIRST_S), _ZONE_LAST_S)
        want_hi = max(min(want_hi, _ZONE_LAST_S), want_lo)
        lo, hi, starts_a, offsets_a = self._table
        if hi < lo:  # nothing built yet
            starts, offs = self._segment(want_lo, want_hi)
            lo, hi = want_lo, want_hi
        else:
            if want_lo >= lo and want_hi <= hi:
                return
            starts, offs = starts_a.tolist(), offsets_a.tolist()
            if want_lo < lo:
                s2, o2 = self._segment(want_lo, lo)
                starts, offs, lo = s2 + starts, o2 + offs, want_lo
            if want_hi > hi:
                s2, o2 = self._segment(hi, want_hi)
                starts, offs, hi = starts + s2, offs + o2, want_hi
        self._table = (lo, hi, np.asarray(starts, np.int64), np.asarray(offs, np.int64))

    def local_ms(self, t: I64, t_min: int, t_max: int) -> I64:
        """Local wall-clock time as epoch-like milliseconds (UTC + the zone's offset);
        ``t_min``/``t_max`` are the batch's extremes."""
        lo, hi, _, _ = self._table
        if t_min < lo * 1000 or t_max >= hi * 1000:
            self._cover(t_min, t_max)
        _, _, starts, offsets = self._table
        last = len(starts) - 1
        first_i, last_i = (min(max(int(i) - 1, 0), last)
                           for i in np.searchsorted(starts, [t_min, t_max], side="right"))
        if first_i == last_i:  # no clock change inside the batch: one offset for all
            out: I64 = t + offsets[first_i]
            return out
        idx = np.searchsorted(starts, t, side="right") - 1
        np.clip(idx, 0, last, out=idx)
        out = t + offsets[idx]
        return out


def _year_start(t_ms: int, years: int) -> int:
    """Days since the epoch of 1 January, ``years`` after the year of ``t_ms`` (clamped
    to the years a date can hold; the calendar's own bounds apply later)."""
    day = min(max(t_ms // _DAY_MS, _FIRST_DATE_DAY), _LAST_DATE_DAY)
    year = min(max((_EPOCH_DATE + timedelta(days=day)).year + years, 1), 9999)
    return (date(year, 1, 1) - _EPOCH_DATE).days


@dataclass(frozen=True)
class _SessionTable:
    """Sessions as int64 ms arrays (a session without a break has an empty one,
    ``[open, open)``), and the times they cover, ``[cover_lo, cover_hi)``."""

    opens: I64
    closes: I64
    break_starts: I64
    break_ends: I64
    has_breaks: bool
    cover_lo: int
    cover_hi: int


_NO_SESSIONS = _SessionTable(*(np.zeros(0, np.int64),) * 4, has_breaks=False, cover_lo=0, cover_hi=0)


class _Sessions:
    """Trading sessions of one exchange calendar over a span; the table is one
    snapshot, replaced whole when the span grows."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.problems: list[str] = []
        self._first_day: int | None = None  # built date span, days since epoch
        self._last_day: int | None = None
        self._limits: tuple[int, int] | None = None  # the calendar class's buildable days
        self._failed: set[tuple[int, int]] = set()
        self._table = _NO_SESSIONS

    # -- building ------------------------------------------------------------------
    def _construct(self, first_day: int, last_day: int) -> Any:
        """An exchange_calendars calendar for the span, or raise.

        exchange_calendars emits pandas deprecation warnings while it builds; they are
        the library's to fix and say nothing to a user, so they are silenced here only.
        """
        import exchange_calendars  # type: ignore[import-untyped]

        start = (_EPOCH_DATE + timedelta(days=first_day)).isoformat()
        end = (_EPOCH_DATE + timedelta(days=last_day)).isoformat()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return exchange_calendars.get_calendar(self.code, start=start, end=end)

    def _learn_limits(self, calendar: Any) -> None:
        cls = type(calendar)
        lo, hi = cls.bound_min(), cls.bound_max()
        first = _CALENDAR_FIRST_DAY if lo is None else max(_CALENDAR_FIRST_DAY, (lo.date() - _EPOCH_DATE).days)
        last = _CALENDAR_LAST_DAY if hi is None else min(_CALENDAR_LAST_DAY, (hi.date() - _EPOCH_DATE).days)
        self._limits = (first, last)

    def _problem(self, first_day: int, last_day: int, exc: BaseException) -> None:
        start = (_EPOCH_DATE + timedelta(days=first_day)).isoformat()
        end = (_EPOCH_DATE + timedelta(days=last_day)).isoformat()
        text = f"calendar {self.code} cannot be built for {start}..{end}: {type(exc).__name__}: {exc}"
        self.problems.append(text)
        log(logger, logging.WARNING, "calendar unavailable", calendar=self.code, start=start,
            end=end, error=f"{type(exc).__name__}: {exc}")

    def _build(self, first_day: int, last_day: int, *, report: bool = True) -> bool:
        """Build the span (``report``: say why if it cannot be, else stay quiet)."""
        if (first_day, last_day) in self._failed or first_day > last_day:
            return False
        try:
            calendar = self._construct(first_day, last_day)
        except Exception as exc:  # noqa: BLE001 - any library failure means "cannot cover", never a crash
            self._failed.add((first_day, last_day))
            if self._limits is None:
                # Perhaps the span is beyond the class's bounds: the default span tells
                # the class, hence its bounds; then retry within them.
                try:
                    self._learn_limits(self._construct_default())
                except Exception:  # noqa: BLE001 - same: cannot cover
                    if report:
                        self._problem(first_day, last_day, exc)
                    return False
                lo, hi = self._limits or (_CALENDAR_FIRST_DAY, _CALENDAR_LAST_DAY)
                clamped = (max(first_day, lo), min(last_day, hi))
                if clamped != (first_day, last_day):
                    return self._build(*clamped, report=report)
            if report:
                self._problem(first_day, last_day, exc)
            return False
        if self._limits is None:
            self._learn_limits(calendar)
        self._load(calendar)
        self._first_day, self._last_day = first_day, last_day
        return True

    def _construct_default(self) -> Any:
        import exchange_calendars

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return exchange_calendars.get_calendar(self.code)

    def _load(self, calendar: Any) -> None:
        schedule = calendar.schedule

        def ms(column: str) -> I64:
            values = schedule[column].dt.tz_convert(None).to_numpy().astype("datetime64[ms]")
            return np.asarray(values.astype(np.int64), np.int64)

        opens, closes = ms("open"), ms("close")
        bs, be = ms("break_start"), ms("break_end")
        no_break = (bs == _NAT) | (be == _NAT)
        bs[no_break] = opens[no_break]  # an empty break: [open, open)
        be[no_break] = opens[no_break]
        if len(opens):
            self._table = _SessionTable(opens, closes, bs, be, bool((~no_break).any()),
                                        int(opens[0]), int(closes[-1]))
        else:
            self._table = _NO_SESSIONS

    def _cover(self, t_min: int, t_max: int) -> None:
        want_first = _year_start(t_min, -_CALENDAR_MARGIN_YEARS)
        want_last = _year_start(t_max, _CALENDAR_MARGIN_YEARS + 1) - 1
        lo, hi = self._limits or (_CALENDAR_FIRST_DAY, _CALENDAR_LAST_DAY)
        table = self._table
        if self._first_day is not None and self._last_day is not None:
            # Extend only the side that needs it; rebuild the union (one session table).
            want_first = min(self._first_day, want_first) if t_min < table.cover_lo else self._first_day
            want_last = max(self._last_day, want_last) if t_max >= table.cover_hi else self._last_day
        want_first, want_last = max(want_first, lo), min(want_last, hi)
        if want_first > want_last or (want_first, want_last) == (self._first_day, self._last_day):
            return
        if not self._build(want_first, want_last, report=False):
            # Perhaps only the margin is out of reach: try the bare span.
            lo, hi = self._limits or (_CALENDAR_FIRST_DAY, _CALENDAR_LAST_DAY)
            bare_first = max(t_min // _DAY_MS, lo)
            bare_last = min(t_max // _DAY_MS + 1, hi)
            if self._first_day is not None and self._last_day is not None:
                bare_first = min(bare_first, self._first_day)
                bare_last = max(bare_last, self._last_day)
            self._build(bare_first, bare_last)

    # -- lookup ----------------------------------------------------------------------
    def lookup(self, t: I64, t_min: int, t_max: int) -> tuple[B, B]:
        """``(open, uncovered)`` per time: inside a session and outside its break;
        ``t_min``/``t_max`` are the batch's extremes."""
        if t_min < self._table.cover_lo or t_max >= self._table.cover_hi:
            self._cover(t_min, t_max)
        table = self._table
        if not len(table.opens):
            return np.zeros(len(t), np.bool_), np.ones(len(t), np.bool_)
        idx = np.searchsorted(table.opens, t, side="right") - 1
        np.clip(idx, 0, None, out=idx)  # a time before the first open is uncovered anyway
        is_open = t < table.closes[idx]
        if table.has_breaks:
            is_open &= ~((t >= table.break_starts[idx]) & (t < table.break_ends[idx]))
        if t_min >= table.cover_lo and t_max < table.cover_hi:
            return is_open, np.zeros(len(t), np.bool_)
        covered = (t >= table.cover_lo) & (t < table.cover_hi)
        is_open &= covered
        return is_open, ~covered


class Gate:
    """The firing gates of one rule: ``hours`` and ``days`` in local time of
    ``timezone``, and ``calendar`` sessions.  All given gates must hold.

    The configuration is immutable (equal configs compare and hash equal, so rules can
    share a gate); the lookup tables are the instance's own and grow on demand.  Each
    table is replaced whole, so a reader never sees half of one; building a calendar
    silences exchange_calendars' pandas warnings with ``warnings.catch_warnings``, which
    is process-wide, so calendars are best first asked for from one thread.
    """

    __slots__ = (
        "_calendar",
        "_day_ok",
        "_days",
        "_hours",
        "_minute_ok",
        "_sessions",
        "_timezone",
        "_zone",
    )

    def __init__(
        self,
        timezone: str,
        hours: tuple[str, ...] = (),
        days: tuple[str, ...] = (),
        calendar: str | None = None,
    ) -> None:
        ranges = [parse_hours(h) for h in hours]
        for d in days:
            if d not in WEEKDAYS:
                raise ValueError(f"unknown weekday {d!r}; use {', '.join(WEEKDAYS)}")
        self._timezone = timezone
        self._hours = tuple(format_hours(*r) for r in ranges)
        self._days = tuple(d for d in WEEKDAYS if d in days)  # canonical order, no repeats
        self._calendar = calendar
        minute_ok = np.zeros(MINUTES_PER_DAY, np.bool_)
        for start, end in ranges:
            if start < end:
                minute_ok[start:end] = True
            else:  # spans midnight
                minute_ok[start:] = True
                minute_ok[:end] = True
        self._minute_ok = minute_ok
        self._day_ok = np.array([d in days for d in WEEKDAYS], np.bool_)
        self._zone: _ZoneTable | None = (
            _ZoneTable(ZoneInfo(timezone)) if (self._hours or self._days) else None
        )
        self._sessions: _Sessions | None = None if calendar is None else _Sessions(calendar)

    # -- configuration -----------------------------------------------------------------
    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def hours(self) -> tuple[str, ...]:
        return self._hours

    @property
    def days(self) -> tuple[str, ...]:
        return self._days

    @property
    def calendar(self) -> str | None:
        return self._calendar

    @property
    def active(self) -> bool:
        """Whether any gate is given (an inactive gate allows every sample)."""
        return bool(self._hours or self._days or self._calendar is not None)

    @property
    def key(self) -> tuple[str, tuple[str, ...], tuple[str, ...], str | None]:
        """The configuration, canonical: hours spelled ``HH:MM-HH:MM``, days in week
        order.  The timezone only matters with hours or days."""
        tz = self._timezone if (self._hours or self._days) else ""
        return (tz, self._hours, self._days, self._calendar)

    @property
    def problems(self) -> tuple[str, ...]:
        """Why the calendar could not be built for some span (each reason once)."""
        return tuple(dict.fromkeys(self._sessions.problems)) if self._sessions else ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Gate) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return (f"Gate(timezone={self._timezone!r}, hours={self._hours!r}, days={self._days!r}, "
                f"calendar={self._calendar!r})")

    # -- evaluation --------------------------------------------------------------------
    def mask(self, t_ms: I64) -> GateResult:
        """Which sample times (epoch ms) may fire, and which the calendar cannot cover."""
        t = np.asarray(t_ms, dtype=np.int64)
        n = len(t)
        uncovered = np.zeros(n, np.bool_)
        if not self.active or n == 0:
            return GateResult(np.ones(n, np.bool_), uncovered)
        t_min, t_max = int(t.min()), int(t.max())
        allowed = np.ones(n, np.bool_)
        if self._zone is not None:
            local = self._zone.local_ms(t, t_min, t_max)
            if self._hours:
                minute = local // _MINUTE_MS
                minute %= MINUTES_PER_DAY
                allowed = self._minute_ok[minute]
            if self._days:
                weekday = local // _DAY_MS
                weekday += 3  # 1970-01-01 was a Thursday (index 3 counting from Monday)
                weekday %= 7
                allowed &= self._day_ok[weekday]
        if self._sessions is not None:
            is_open, uncovered = self._sessions.lookup(t, t_min, t_max)
            allowed &= is_open
        return GateResult(allowed, uncovered)
