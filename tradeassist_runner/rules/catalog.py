"""Rule models derived from the registry: one model per type, the conjunction, the union.

Every model forbids unknown keys and carries the type's own validation, so a misspelled
``perod`` or a ``window`` on an RSI rule is reported where it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from ..config.durations import format_duration
from ..config.models import Instrument, Strict
from ..config.types import no_items
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
        mistakes = modifier_mistakes(self.type, self.condition, bar=self.bar is not None, for_=self.for_ is not None)
        if mistakes:
            raise field_error(type(self).__name__, [(f, m, _as_written(self, f)) for f, m in mistakes])
        return self


def _as_written(rule: RuleCommon, field: str) -> str | None:
    """A duration modifier (``bar``, ``for``) spelled as in a file, for an error's input."""
    value = rule.bar if field == "bar" else rule.for_
    return None if value is None else format_duration(value)


#: Why a type cannot be evaluated on bars, by type ('' = any other).
_TICKS_ONLY = {
    "vwap": "vwap is evaluated on ticks only",
    "spread": "spread is evaluated on the ticks of both instruments",
    "": "it is evaluated on ticks only",
}


def modifier_mistakes(
    rule_type: object,
    condition: object,
    *,
    bar: bool,
    for_: bool,
    conditions: Sequence[tuple[object, object]] = (),
) -> list[tuple[str, str]]:
    """``(field, message)`` for a ``bar`` or ``for`` that does not fit the rule's type or conditions.

    One function for the models' validators and for the loader's check of the raw file
    data: pydantic runs a model's "after" validator only when every field is valid, and
    a user fixing a typo should not discover the ``bar`` mistake only on the next run.
    Both give the same words, so the loader can drop the copy pydantic already reported.
    Arguments are raw values (anything the YAML held); what is not a known type or
    condition is left to field validation.  ``conditions``: ``(type, condition)`` of each
    of a conjunction's conditions.
    """
    found: list[tuple[str, str]] = []
    if rule_type == "all":
        pairs = list(conditions)
        if for_:
            crossing = next((i for i, (_, c) in enumerate(pairs) if c in CROSSINGS), None)
            if crossing is not None:
                found.append((
                    "for",
                    f"needs every condition to be above or below, but condition {crossing + 1} is "
                    f"{pairs[crossing][1]} (a crossing happens at one sample)",
                ))
        if bar:
            for i, (kind, _) in enumerate(pairs):
                rt = REGISTRY.get(kind) if isinstance(kind, str) else None
                if rt is not None and rt.in_conjunctions and not rt.bars:
                    found.append((
                        "bar",
                        f"cannot be used with a {rt.name} condition (condition {i + 1}): "
                        f"{_TICKS_ONLY.get(rt.name, _TICKS_ONLY[''])}",
                    ))
                    break
        return found
    rt = REGISTRY.get(rule_type) if isinstance(rule_type, str) else None
    if rt is None:
        return found
    if bar and not rt.bars:
        found.append(("bar", f"cannot be used with type {rt.name}: {_TICKS_ONLY.get(rt.name, _TICKS_ONLY[''])}; remove bar"))
    if for_ and condition in CROSSINGS:
        found.append((
            "for",
            f"cannot be used with {condition}: a crossing happens at one sample; use above or below with for",
        ))
    return found


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
        mistakes = modifier_mistakes(
            "all", None, bar=self.bar is not None, for_=self.for_ is not None,
            conditions=[(c.type, c.condition) for c in self.conditions],
        )
        if mistakes:
            raise field_error("AllRule", [(f, m, _as_written(self, f)) for f, m in mistakes])
        return self


_ALL_MODELS: tuple[Any, ...] = (*RULE_MODELS.values(), AllRule)
Rule = Annotated[Union[_ALL_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]

#: Any validated rule.
AnyRule = SingleRule | AllRule


class RulesFile(Strict):
    instruments: list[Instrument] = Field(default_factory=no_items)
    rules: list[Rule] = Field(default_factory=no_items)


def bodies(rule: AnyRule) -> tuple[Any, ...]:
    """The rule's conditions as bodies: one for a single-type rule, the list for ``all``."""
    if isinstance(rule, AllRule):
        return tuple(rule.conditions)
    return (rule,)
