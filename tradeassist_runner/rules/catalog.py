"""Rule models derived from the registry: one model per type, the conjunction, the union.

Every model forbids unknown keys and carries the type's own validation, so a misspelled
``perod`` or a ``window`` on an RSI rule is reported where it is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from ..config.durations import format_duration
from ..config.models import Instrument, Strict
from .common import RuleCommon, field_error
from .registry import REGISTRY

CROSSINGS = ("crosses_above", "crosses_below")


class SingleRule(RuleCommon):
    """A rule of one type: the common fields plus that type's body."""

    if TYPE_CHECKING:  # supplied by the type's Body (declaring them here would shadow its Literal)
        type: str
        condition: str
        threshold: float

    @model_validator(mode="after")
    def _modifiers_fit_type(self) -> SingleRule:
        rule_type = REGISTRY[self.type]
        if self.bar is not None and not rule_type.bars:
            raise field_error(
                type(self).__name__, "bar",
                f"cannot be used with type {rule_type.name}: {_TICKS_ONLY.get(rule_type.name, _TICKS_ONLY[''])}; "
                "remove bar",
                format_duration(self.bar),
            )
        if self.for_ is not None and self.condition in CROSSINGS:
            raise field_error(
                type(self).__name__, "for",
                f"cannot be used with {self.condition}: a crossing happens at one sample; "
                "use above or below with for",
                format_duration(self.for_),
            )
        return self


#: Why a type cannot be evaluated on bars, by type ('' = any other).
_TICKS_ONLY = {
    "vwap": "vwap is evaluated on ticks only",
    "spread": "spread is evaluated on the ticks of both instruments",
    "": "it is evaluated on ticks only",
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


RULE_MODELS: dict[str, type[SingleRule]] = {
    name: create_model(f"{_camel(name)}Rule", __base__=(SingleRule, rt.Body), __module__=__name__)  # type: ignore[arg-type]
    for name, rt in REGISTRY.items()
}

_CONJUNCTION_BODIES = tuple(rt.Body for rt in REGISTRY.values() if rt.in_conjunctions)
if TYPE_CHECKING:
    ConditionBody = Any
else:
    ConditionBody = Annotated[Union[_CONJUNCTION_BODIES], Field(discriminator="type")]


class AllRule(RuleCommon):
    """``type: all``: fires where every condition holds, on the rule's own samples."""

    type: Literal["all"]
    conditions: Annotated[
        list[ConditionBody],
        Field(min_length=2, max_length=8, description="2 to 8 rule bodies (type, parameters, condition, threshold)"),
    ]

    @model_validator(mode="after")
    def _modifiers_fit_conditions(self) -> AllRule:
        if self.for_ is not None:
            crossing = next((i for i, c in enumerate(self.conditions) if c.condition in CROSSINGS), None)
            if crossing is not None:
                kind = self.conditions[crossing].condition
                raise field_error(
                    "AllRule", "for",
                    f"needs every condition to be above or below, but condition {crossing + 1} is {kind} "
                    "(a crossing happens at one sample)",
                    format_duration(self.for_),
                )
        if self.bar is not None:
            for i, c in enumerate(self.conditions):
                if not REGISTRY[c.type].bars:
                    raise field_error(
                        "AllRule", "bar",
                        f"cannot be used with a {c.type} condition (condition {i + 1}): "
                        f"{_TICKS_ONLY.get(c.type, _TICKS_ONLY[''])}",
                        format_duration(self.bar),
                    )
        return self


_ALL_MODELS: tuple[Any, ...] = (*RULE_MODELS.values(), AllRule)
Rule = Annotated[Union[_ALL_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]

#: Any validated rule.
AnyRule = SingleRule | AllRule


class RulesFile(Strict):
    instruments: list[Instrument] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


def bodies(rule: AnyRule) -> tuple[Any, ...]:
    """The rule's conditions as bodies: one for a single-type rule, the list for ``all``."""
    if isinstance(rule, AllRule):
        return tuple(rule.conditions)
    return (rule,)
