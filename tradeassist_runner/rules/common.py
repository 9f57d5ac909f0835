"""The fields every rule has, whatever its type: identity, presentation and the modifiers.

A rule is these fields plus one type's body (``rules/<type>.py``); a conjunction is these
fields plus a list of bodies.  The modifiers (``bar``, ``for``, ``rearm``, ``hours``,
``days``, ``calendar``) are the engine's, the same for every type, so they live here
and not in any type's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from ..config.durations import to_ms
from ..config.models import Strict
from ..config.types import Duration, Number, Severity
from .modifiers import CalendarCode, HoursRange, Weekday

RULE_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
DAY_MS = 86_400_000


class RuleCommon(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=RULE_ID_PATTERN, description="Unique across all rule files; ASCII letters, digits, _ . -")]
    instrument: str = Field(description="A declared instrument symbol")
    cooldown: Duration = Field(default=timedelta(seconds=60), description="e.g. 60s; 0s = none. Measured in sample time")
    active: StrictBool = True
    name: str | None = None
    description: str | None = None
    severity: Severity = "warning"
    notify: list[str] | None = Field(default=None, description="Channel names to notify")
    message: str | None = Field(default=None, description="Message template")
    bar: Duration | None = Field(
        default=None,
        description="Evaluate on closed time bars of this length (must divide 24h: 1m, 5m, 15m, 1h) instead of ticks",
    )
    for_: Duration | None = Field(
        default=None, alias="for",
        description="Fire only once the condition has held for this long without a break (above/below only)",
    )
    rearm: Annotated[Number, Field(ge=0)] | None = Field(
        default=None,
        description="After a fire, wait until the value is back at least this far on the other side of the threshold",
    )
    hours: list[HoursRange] | None = Field(
        default=None, description='Local trading hours that gate firing, e.g. ["09:30-16:00"] (end before start spans midnight)'
    )
    days: list[Weekday] | None = Field(default=None, description="Local weekdays that gate firing: mon tue wed thu fri sat sun")
    calendar: CalendarCode | None = Field(
        default=None, description="Fire only inside the trading sessions of this exchange calendar (XNYS, CMES, ...)"
    )

    @field_validator("cooldown")
    @classmethod
    def _cooldown_not_negative(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("cooldown must not be negative")
        return v

    @field_validator("bar")
    @classmethod
    def _bar_divides_day(cls, v: timedelta | None) -> timedelta | None:
        if v is None:
            return v
        ms = to_ms(v)
        if ms <= 0 or DAY_MS % ms:
            raise ValueError(
                f"bar must divide 24h exactly (e.g. 1m, 5m, 15m, 1h); {_spell(ms)} does not"
            )
        return v

    @field_validator("hours", "days")
    @classmethod
    def _gate_not_empty(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        # An empty list reads as "never", but the engine would take it as "no gate": refuse
        # it rather than guess which one the user meant.
        if v is not None and not v:
            what = "range" if info.field_name == "hours" else "day"
            raise ValueError(f"{info.field_name} must list at least one {what}; leave it out to fire at any time")
        return v

    @field_validator("for_")
    @classmethod
    def _for_positive(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(0):
            raise ValueError("for must not be negative")
        return v


def field_error(model: str, mistakes: Sequence[tuple[str, str, Any]]) -> ValidationError:
    """Errors of a whole-model check, each located at one of the model's fields.

    A ``model_validator`` that raises ``ValueError`` is reported at the rule, i.e. at the
    line of its first key, while the mistake is one field (``for`` on a crossing, ``bar``
    on a tick-only type).  Raised from an "after" validator, this error is merged under
    the rule's location, so ``validate`` points at the field the user has to change.
    ``mistakes`` are ``(field, message, value)``, the field named as written in the file
    (``for``, not ``for_``).
    """
    return ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{message}", {"message": message}),
                loc=(field,),
                input=value,
            )
            for field, message, value in mistakes
        ],
    )


def _spell(ms: int) -> str:
    from ..config.durations import format_duration

    return format_duration(timedelta(milliseconds=ms))


def dump_rule(rule: Any) -> dict[str, Any]:
    """A rule as a user would write it (``for``, not ``for_``), defaults included."""
    out: dict[str, Any] = rule.model_dump(mode="json", by_alias=True)
    return out
