"""Notification titles and bodies: ``str.format`` templates over an alert's fields.

Every template (config ``notifications.templates`` and a rule's ``message``) is checked
at load time against :data:`FIELDS` and rendered once on a sample alert, so an unknown
placeholder or a bad format spec is a located config error, never a surprise when the
alert fires at the open.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config.durations import format_duration
from ..config.models import Instrument
from ..rules.catalog import bodies
from ..rules.registry import REGISTRY
from ..config.notify_models import Templates
from ..timefmt import iso_ms

#: Placeholder -> what it holds (shown in the README and in error messages).
FIELDS: dict[str, str] = {
    "alert_id": "stable id of the alert",
    "rule_id": "the rule's id",
    "name": "the rule's name (its id when it has none)",
    "rule_name": "same as name",
    "description": "the rule's description ('' when none)",
    "symbol": "the instrument's symbol, e.g. /ES",
    "instrument": "the instrument's name (its symbol when it has none)",
    "instrument_name": "same as instrument",
    "instrument_type": "future, index, internal, ...",
    "price": "last price of the tick",
    "volume": "volume of the tick ('' when unknown)",
    "value": "the rule's value (price, percent move or volume ratio)",
    "prev_value": "the value at the previous tick ('' when undefined)",
    "threshold": "the rule's threshold",
    "condition": "above, below, crosses_above, crosses_below",
    "condition_text": "is above, is below, crossed above, crossed below",
    "type": "threshold, rate_of_change, volume_spike",
    "severity": "info, warning, critical",
    "severity_upper": "INFO, WARNING, CRITICAL",
    "message": "the rule's message (or the default message of its type)",
    "ts": "tick time, ISO-8601 UTC",
    "time_utc": "tick time in UTC, e.g. 2026-01-05 14:30:00.125 UTC",
    "time_local": "tick time in the instrument's exchange timezone, e.g. 2026-01-05 09:30:00.125 EST",
    "timezone": "the instrument's exchange timezone, e.g. America/New_York",
    "series": "the rule's value in words, e.g. RSI(14) on 5m bars",
    "bar_start": "bar rules: start of the closed bar, ISO-8601 UTC ('' for tick rules)",
    "values": "conjunctions: every condition's value, comma-separated ('' otherwise)",
    # each rule type's own placeholders (its parameters, e.g. window, period, anchor)
    **{name: f"{rt.name} parameter or input ('' for other types)"
       for rt in REGISTRY.values()
       for name in (*rt.placeholder_names, *rt.input_names)},
}

#: What any rule's own ``message:`` may use (rendered by the engine; README lists these);
#: each type adds its parameters and inputs (``rule_message_fields``).
RULE_MESSAGE_FIELDS: frozenset[str] = frozenset(
    {"rule_id", "name", "symbol", "price", "volume", "value", "prev_value", "threshold",
     "condition", "type", "severity", "ts", "bar_start", "alert_id"}
)  # fmt: skip


def rule_message_fields(type_name: str | None) -> frozenset[str]:
    """The placeholders a rule of this type may use in its ``message``: the common ones plus
    the type's own (a ``{window}`` in an RSI rule's message is reported, not left as text)."""
    rt = REGISTRY.get(type_name or "")
    if rt is None:
        return RULE_MESSAGE_FIELDS
    return RULE_MESSAGE_FIELDS | set(rt.placeholder_names) | set(rt.input_names)

DEFAULT_TITLE = "{severity_upper} {symbol}: {name}"
DEFAULT_BODY = "{message}\n{instrument} ({symbol}), {series}, at {time_local} / {time_utc}\nrule {rule_id}"
#: The engine's message already says what happened per type (a rate_of_change alert: the
#: percent move and the window); the body adds where and when.
DEFAULT_BODIES: Mapping[str, str] = MappingProxyType({})

_VERB = {"above": "is above", "below": "is below", "crosses_above": "crossed above", "crosses_below": "crossed below"}

#: A made-up alert every template is rendered on at load time: each type's own fields
#: are numbers here, so a numeric format spec such as {period:d} or {ma:.2f} is checked.
_SAMPLE: dict[str, Any] = {name: 1 for name in FIELDS}
_SAMPLE.update({
    "alert_id": "es@1767623400125#0", "rule_id": "es", "name": "es", "symbol": "/ES", "price": 6001.25,
    "volume": 3, "value": 6001.25, "prev_value": 5999.0, "threshold": 6000.0, "condition": "crosses_above",
    "condition_text": "crossed above", "type": "threshold", "severity": "warning", "severity_upper": "WARNING",
    "message": "m", "ts": "2026-01-05T14:30:00.125Z", "time_utc": "2026-01-05 14:30:00.125 UTC",
    "time_local": "2026-01-05 09:30:00.125 EST", "timezone": "America/New_York", "series": "price",
    "bar_start": "", "values": "", "description": "", "instrument": "E-mini", "instrument_name": "E-mini",
    "instrument_type": "future", "rule_name": "es", "window": "5m", "anchor": "09:30", "other": "$SPX",
})


#: Widest field and longest precision a template may ask for.
MAX_FORMAT_WIDTH = 1000


def _short_spec(spec: str) -> str:
    return spec if len(spec) <= 30 else spec[:27] + "..."


def check_template(text: str, allowed: Iterable[str] = FIELDS) -> str | None:
    """Why ``text`` cannot be rendered, or None. Only ``{field}`` / ``{field:spec}`` are allowed."""
    names = set(allowed)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"invalid template: {exc} (write a literal brace as {{{{ or }}}})"
    for _, field, spec, _conversion in parts:
        if field is None:
            continue
        if field == "" or field.isdigit():
            return "invalid template: every placeholder needs a name, e.g. {symbol}"
        base = field.split(".")[0].split("[")[0]
        if base not in names:
            from ..config.explain import did_you_mean

            return (
                f"unknown placeholder {{{field}}}{did_you_mean(base, names)}; "
                f"allowed: {', '.join(sorted(names))}"
            )
        if base != field:
            return f"invalid placeholder {{{field}}}: attribute and index access are not supported"
        if spec and "{" in spec:
            return f"invalid placeholder {{{field}:{spec}}}: a format spec cannot contain a placeholder"
        if spec and any(int(n) > MAX_FORMAT_WIDTH for n in re.findall(r"[0-9]+", spec)):
            # rendering '{price:>999999999999}' would allocate a terabyte per alert
            return (
                f"invalid placeholder {{{field}:{_short_spec(spec)}}}: "
                f"width and precision may be at most {MAX_FORMAT_WIDTH}"
            )
    try:
        string.Formatter().vformat(text, (), _SAMPLE)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        return f"invalid template: {exc}"
    return None


def _zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _ms(dt: datetime, zone: str) -> str:
    return f"{dt:%Y-%m-%d %H:%M:%S}.{dt.microsecond // 1000:03d} {zone}"


def alert_fields(row: Mapping[str, Any], instrument: Instrument | None, rule: Any = None) -> dict[str, Any]:
    """The placeholders of one alert row (ALERT_SCHEMA columns), for titles and bodies."""
    ts: datetime = row["ts"]
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    tz_name = instrument.timezone if instrument is not None else "UTC"
    local = ts.astimezone(_zone(tz_name))
    name = row.get("rule_name") or row["rule_id"]
    inst_name = (instrument.name if instrument is not None else None) or row["symbol"]
    own: dict[str, Any] = {name: "" for rt in REGISTRY.values()
                           for name in (*rt.placeholder_names, *rt.input_names)}
    series = ""
    if rule is not None and hasattr(rule, "type"):
        body = bodies(rule)[0]
        rt = REGISTRY.get(body.type)
        if rt is not None:
            params = rt.params(body, tz_name)
            own.update(rt.placeholders(params))
            series = rt.describe(params)
            if getattr(rule, "bar", None) is not None:
                series += f" on {format_duration(rule.bar)} bars"
    bar_start = row.get("bar_start")
    values = row.get("values")
    return {
        **own,
        "alert_id": row.get("alert_id", ""),
        "rule_id": row["rule_id"],
        "name": name,
        "rule_name": name,
        "description": (getattr(rule, "description", None) or ""),
        "symbol": row["symbol"],
        "instrument": inst_name,
        "instrument_name": inst_name,
        "instrument_type": instrument.type if instrument is not None else "",
        "price": row.get("price"),
        "volume": "" if row.get("volume") is None else row["volume"],
        "value": row.get("value"),
        "prev_value": "" if row.get("prev_value") is None else row["prev_value"],
        "threshold": row.get("threshold"),
        "condition": row.get("condition", ""),
        "condition_text": _VERB.get(row.get("condition") or "", row.get("condition") or ""),
        "type": row.get("type", ""),
        "severity": row.get("severity", ""),
        "severity_upper": str(row.get("severity", "")).upper(),
        "message": row.get("message") or "",
        "ts": iso_ms(ts),
        "time_utc": _ms(ts.astimezone(timezone.utc), "UTC"),
        "time_local": _ms(local, local.tzname() or tz_name),
        "timezone": tz_name,
        "series": series,
        "bar_start": iso_ms(bar_start) if isinstance(bar_start, datetime) else "",
        "values": ", ".join(str(v) for v in json.loads(values)) if isinstance(values, str) and values else "",
    }


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


class Renderer:
    """Picks the title/body templates of an alert (per type, then config default, then built-in)."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def templates_for(self, rule_type: str) -> tuple[str, str]:
        own = self.templates.by_type.get(rule_type)  # type: ignore[call-overload]
        title = (own.title if own else None) or self.templates.title or DEFAULT_TITLE
        body = (own.body if own else None) or self.templates.body or DEFAULT_BODIES.get(rule_type, DEFAULT_BODY)
        return title, body

    def render(self, fields: Mapping[str, Any]) -> Rendered:
        title, body = self.templates_for(str(fields.get("type", "")))
        return Rendered(_format(title, fields), _format(body, fields))


def _format(template: str, fields: Mapping[str, Any]) -> str:
    try:
        return string.Formatter().vformat(template, (), fields)
    except (ValueError, TypeError, KeyError, IndexError):
        # Checked at load time; a value of an unexpected type (a null volume under
        # ``{volume:d}``) still must not lose the alert, so fall back to plain text.
        plain = {k: ("" if v is None else v) for k, v in fields.items()}
        return string.Formatter().vformat(_strip_specs(template), (), plain)


def _strip_specs(template: str) -> str:
    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is not None:
            out.append("{" + field + "}")
    return "".join(out)
