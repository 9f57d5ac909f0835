"""A per-tick reference evaluator written straight from the rule semantics (docs/semantics.md).

Deliberately naive: every sample recomputes its value from the whole history with plain
means, the literal EMA and Wilder recursions and a two-pass standard deviation; no state
is shared between rules; plain Python, no numpy.  The zero tests (MA = 0) are decided on
the exact quantity, in rational arithmetic, as the contract says.  The engine is checked
against it.

Rules are the validated models the loader returns (any type, ``all`` included).
``reload`` (optional) swaps in another rule list before a given tick: series history is
kept (it belongs to instrument, bar, type and parameters), firing state is kept only for
rules whose definition is unchanged.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from tradeassist_runner.config.durations import to_ms


@dataclass(frozen=True)
class Tick:
    ts_ms: int
    symbol: str
    price: float
    volume: int | None


@dataclass(frozen=True)
class Sample:
    t: int
    ts: int  # evaluation tick's ts
    price: float
    high: float
    low: float
    volume: int | None
    source: int = 0  # spread: 0 = instrument, 1 = other


@dataclass
class Fired:
    rule_id: str
    symbol: str
    ts_ms: int
    value: float
    alert_id: str
    bar_start: int | None
    values: list[float] | None


def _body_dict(body: Any) -> dict[str, Any]:
    return body.model_dump(mode="json", by_alias=True)


def bodies(rule: Any) -> list[Any]:
    return list(rule.conditions) if rule.type == "all" else [rule]


def definition(rule: Any) -> str:
    return json.dumps(rule.model_dump(mode="json", by_alias=True), sort_keys=True)


# ---------------------------------------------------------------------------- values


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _sma(p: list[float], i: int, n: int) -> float:
    return _mean(p[i - n + 1 : i + 1])


def _ema(p: list[float], i: int, n: int) -> float:
    alpha = 2 / (n + 1)
    e = _sma(p, n - 1, n)
    for j in range(n, i + 1):
        e = alpha * p[j] + (1 - alpha) * e
    return e


def _ma(kind: str, p: list[float], i: int, n: int) -> float:
    return _sma(p, i, n) if kind == "sma" else _ema(p, i, n)


def _ma_is_zero(kind: str, p: list[float], i: int, n: int) -> bool:
    """The zero test on the exact quantity (rational arithmetic over the exact float inputs):
    an EMA that is exactly 0 is undefined even where float rounding leaves 1e-16."""
    q = [Fraction(x) for x in p]
    sma = sum(q[i - n + 1 : i + 1], Fraction(0)) / n
    if kind == "sma":
        return sma == 0
    alpha = Fraction(2, n + 1)
    e = sum(q[0:n], Fraction(0)) / n
    for j in range(n, i + 1):
        e = alpha * q[j] + (1 - alpha) * e
    return e == 0


def _pct(x: float, base: float) -> float | None:
    if base == 0:
        return None
    return (x - base) / abs(base) * 100


def _rsi(p: list[float], i: int, n: int) -> float | None:
    if i < n:
        return None
    d = [p[j] - p[j - 1] for j in range(1, i + 1)]  # d[j-1] = d_j
    gain = [max(x, 0.0) for x in d]
    loss = [max(-x, 0.0) for x in d]
    ag = _mean(gain[:n])
    al = _mean(loss[:n])
    for j in range(n + 1, i + 1):
        ag = (ag * (n - 1) + gain[j - 1]) / n
        al = (al * (n - 1) + loss[j - 1]) / n
    if al == 0:
        return 50.0 if ag == 0 else 100.0
    return 100 - 100 / (1 + ag / al)


def _anchor_instants(day: datetime, anchor: str, zone: ZoneInfo) -> int | None:
    """UTC ms of the local time ``anchor`` on local date ``day``; None if the clock skips it."""
    hh, mm = (int(x) for x in anchor.split(":"))
    local = datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone, fold=0)
    back = local.astimezone(timezone.utc).astimezone(zone)
    if (back.hour, back.minute) != (hh, mm) or back.date() != local.date():
        return None  # nonexistent (DST gap)
    return int(local.astimezone(timezone.utc).timestamp() * 1000)


def _latest_anchor(ts: int, anchor: str, tz: str) -> int:
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(ts / 1000, timezone.utc).astimezone(zone)
    day = datetime(local.year, local.month, local.day)
    for back in range(10):
        at = _anchor_instants(day - timedelta(days=back), anchor, zone)
        if at is not None and at <= ts:
            return at
    raise AssertionError("no anchor within 10 days")


def value_at(body: Any, samples: list[Sample], i: int, tz: str, symbol: str) -> float | None:
    """The body's value at sample ``i`` (all earlier samples of the series are ``samples[:i]``)."""
    s = samples[i]
    p = [x.price for x in samples[: i + 1]]
    kind = body.type
    if kind == "threshold":
        return s.price
    if kind == "rate_of_change":
        limit = s.t - to_ms(body.window)
        earlier = [x for x in samples[:i] if x.t <= limit]
        if not earlier:
            return None
        return _pct(s.price, earlier[-1].price)
    if kind == "volume_spike":
        if s.volume is None:
            return None
        vols = [x.volume for x in samples[:i] if x.volume is not None]
        if len(vols) < body.period:
            return None
        mean = sum(vols[-body.period :]) / body.period
        if mean == 0:
            return None
        return s.volume / mean
    if kind == "moving_average":
        n = body.period
        if i < n - 1 or _ma_is_zero(body.average, p, i, n):
            return None
        return _pct(s.price, _ma(body.average, p, i, n))
    if kind == "ma_cross":
        if i < body.slow - 1 or _ma_is_zero(body.average, p, i, body.slow):
            return None
        slow = _ma(body.average, p, i, body.slow)
        if slow == 0:
            return None
        return (_ma(body.average, p, i, body.fast) - slow) / abs(slow) * 100
    if kind == "rsi":
        return _rsi(p, i, body.period)
    if kind == "breakout":
        n = body.period
        if i < n:
            return None
        prior = samples[i - n : i]
        if body.side == "high":
            return s.price - max(x.high for x in prior)
        return min(x.low for x in prior) - s.price
    if kind == "bollinger":
        n = body.period
        if i < n - 1:
            return None
        w = p[i - n + 1 : i + 1]
        if max(w) == min(w):
            return None
        m = _mean(w)
        sd = math.sqrt(sum((x - m) ** 2 for x in w) / n)
        return (s.price - m) / sd
    if kind == "vwap":
        start = _latest_anchor(s.ts, body.anchor, tz)
        period = [x for x in samples[: i + 1] if x.ts >= start and x.volume is not None]
        vol = sum(x.volume for x in period if x.volume is not None)
        if vol == 0:
            return None
        vwap = sum(x.price * x.volume for x in period if x.volume is not None) / vol
        return _pct(s.price, vwap)
    if kind == "spread":
        a = [x for x in samples[: i + 1] if x.source == 0]
        b = [x for x in samples[: i + 1] if x.source == 1]
        if not a or not b:
            return None
        la, lb = a[-1], b[-1]
        if body.max_age is not None and abs(la.ts - lb.ts) > to_ms(body.max_age):
            return None
        fb = body.factor * lb.price
        if body.mode == "difference":
            return la.price - fb
        if lb.price == 0:
            return None
        return la.price / fb
    raise AssertionError(kind)


def holds(condition: str, prev: float | None, value: float | None, threshold: float) -> bool:
    if value is None:
        return False
    if condition == "above":
        return value > threshold
    if condition == "below":
        return value < threshold
    if prev is None:
        return False
    if condition == "crosses_above":
        return prev <= threshold and value > threshold
    return prev >= threshold and value < threshold


# ---------------------------------------------------------------------------- gates


def _parse_range(text: str) -> tuple[int, int]:
    a, b = text.split("-")
    ah, am = (int(x) for x in a.split(":"))
    bh, bm = (int(x) for x in b.split(":"))
    return ah * 60 + am, bh * 60 + bm


def gate_open(rule: Any, t: int, tz: str, calendars: dict[str, Any]) -> bool:
    local = datetime.fromtimestamp(t / 1000, timezone.utc).astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    if rule.hours:
        ok = False
        for text in rule.hours:
            start, end = _parse_range(text)
            if start < end:
                ok |= start <= minute < end
            else:
                ok |= minute >= start or minute < end
        if not ok:
            return False
    if rule.days:
        name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
        if name not in rule.days:
            return False
    if rule.calendar:
        import pandas as pd

        cal = calendars[rule.calendar]
        when = pd.Timestamp(t, unit="ms", tz="UTC")
        sched = cal.schedule
        for _, row in sched.iterrows():
            if row["open"] <= when < row["close"]:
                bs, be = row.get("break_start"), row.get("break_end")
                in_break = bs is not None and not pd.isna(bs) and bs <= when < be
                return not in_break
        return False
    return True


# ---------------------------------------------------------------------------- the run


@dataclass
class _Firing:
    last: int | None = None
    armed: bool = True
    run_start: int | None = None


@dataclass
class _Series:
    samples: list[Sample] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)


_NOT_PARAMS = {"id", "instrument", "cooldown", "active", "name", "description", "severity", "notify", "message",
               "bar", "for", "rearm", "hours", "days", "calendar", "condition", "threshold"}


def _series_key(rule: Any, body: Any) -> str:
    """Instrument, bar, type and the type's parameters: what value state belongs to."""
    params = {k: v for k, v in _body_dict(body).items() if k not in _NOT_PARAMS}
    return json.dumps([rule.instrument, to_ms(rule.bar) if rule.bar else None, params], sort_keys=True)


def reference_alerts(
    rules: list[Any], ticks: list[Tick], timezones: dict[str, str] | None = None,
    reload: tuple[int, list[Any]] | None = None, calendars: dict[str, Any] | None = None,
) -> list[Fired]:
    tzs = timezones or {}
    cals = calendars or {}
    out: list[Fired] = []
    series: dict[str, _Series] = {}
    firing: dict[str, _Firing] = {}
    open_bars: dict[tuple[str, int], list[Any]] = {}  # (symbol, d) -> [k, o, h, l, c, vol|None]
    same_ts: dict[str, dict[int, int]] = {}  # per (source) key: ts -> samples so far
    current = rules
    for n, tick in enumerate(ticks):
        if reload is not None and n == reload[0]:
            current = reload[1]
        # samples each source produces at this tick (computed once per source)
        produced: dict[str, list[Sample]] = {}
        tick_samples: dict[str, Sample] = {}
        bars_needed = {(r.instrument, to_ms(r.bar)) for r in current if r.bar and r.active}
        closing: dict[tuple[str, int], Sample] = {}
        for sym, d in bars_needed | set(open_bars):
            if sym != tick.symbol:
                continue
            k = tick.ts_ms // d
            bar = open_bars.get((sym, d))
            if bar is not None and bar[0] != k:
                closing[(sym, d)] = Sample(bar[0] * d, tick.ts_ms, bar[4], bar[2], bar[3], bar[5])
                bar = None
            if bar is None:
                bar = [k, tick.price, tick.price, tick.price, tick.price, tick.volume]
            else:
                bar[2] = max(bar[2], tick.price)
                bar[3] = min(bar[3], tick.price)
                bar[4] = tick.price
                if tick.volume is not None:
                    bar[5] = tick.volume if bar[5] is None else bar[5] + tick.volume
            open_bars[(sym, d)] = bar
        for rule in current:
            if not rule.active:
                continue
            other = getattr(rule, "other", None) if rule.type == "spread" else None
            if rule.bar:
                smp = closing.get((rule.instrument, to_ms(rule.bar)))
                if smp is None:
                    continue
                src = json.dumps([rule.instrument, to_ms(rule.bar)])
            elif tick.symbol == rule.instrument or (other is not None and tick.symbol == other):
                src = json.dumps([rule.instrument, other])
                if src not in tick_samples:
                    tick_samples[src] = Sample(tick.ts_ms, tick.ts_ms, tick.price, tick.price, tick.price,
                                               tick.volume, 0 if tick.symbol == rule.instrument else 1)
                smp = tick_samples[src]
            else:
                continue
            produced.setdefault(src, [])
            if smp not in produced[src]:
                produced[src].append(smp)
            tz = tzs.get(rule.instrument, "America/New_York")
            vals: list[float | None] = []
            ok_all = True
            for body in bodies(rule):
                key = _series_key(rule, body)
                ser = series.setdefault(key, _Series())
                if not ser.samples or ser.samples[-1] is not smp:
                    ser.samples.append(smp)
                    ser.values.append(value_at(body, ser.samples, len(ser.samples) - 1, tz, rule.instrument))
                value = ser.values[-1]
                prev = ser.values[-2] if len(ser.values) >= 2 else None
                vals.append(value)
                ok_all &= holds(body.condition, prev, value, float(body.threshold))
            fs = firing.setdefault(definition(rule), _Firing())
            first = bodies(rule)[0]
            v0 = vals[0]
            # re-arm is watched on every sample, gated or not
            rearmed_here = False
            if rule.rearm is not None and v0 is not None:
                thr = float(first.threshold)
                if first.condition in ("above", "crosses_above"):
                    rearmed_here = v0 <= thr - rule.rearm
                else:
                    rearmed_here = v0 >= thr + rule.rearm
            if rearmed_here:
                fs.armed = True
            # for-run
            if ok_all:
                if fs.run_start is None:
                    fs.run_start = smp.t
            else:
                fs.run_start = None
            fire = ok_all
            if fire and rule.for_ is not None:
                fire = smp.t - (fs.run_start if fs.run_start is not None else smp.t) >= to_ms(rule.for_)
            if fire and (rule.hours or rule.days or rule.calendar):
                fire = gate_open(rule, smp.t, tz, cals)
            if fire and not fs.armed:
                fire = False
            if fire and fs.last is not None and smp.t - fs.last < to_ms(rule.cooldown):
                fire = False
            if fire:
                fs.last = smp.t
                if rule.rearm is not None:
                    fs.armed = False
                counts = same_ts.setdefault(src, {})
                k = counts.get(smp.ts, 0)
                out.append(Fired(rule.id, rule.instrument, smp.ts, float(v0), f"{rule.id}@{smp.ts}#{k}",
                                 smp.t if rule.bar else None, [float(v) for v in vals] if rule.type == "all" else None))  # type: ignore[arg-type]
        for src, smps in produced.items():
            counts = same_ts.setdefault(src, {})
            for smp in smps:
                counts[smp.ts] = counts.get(smp.ts, 0) + 1
    return out
