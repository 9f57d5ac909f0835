"""pydantic errors rewritten for the person who edits the YAML file.

pydantic says "Extra inputs are not permitted" at ``('rules', 0, 'threshold', 'cooldwn')``;
the user needs "unknown field 'cooldwn' (did you mean 'cooldown'?)" at the line they
typed it.  To suggest the right names we walk the same ``loc`` through the model
classes, so the suggestions are always the fields of the model that rejected the key
(for a rule: the fields of *its* rule type).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import Problem
from .yaml_source import Anchor, YamlDocument

#: What one member of a discriminated union is called in messages, by the field holding it.
_UNION_NOUN = {"rules": "rule", "source": "source", "conditions": "condition"}



def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or nothing; case-insensitive so ``Cooldown`` finds ``cooldown``."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[match[0]]}'?)" if match else ""


def describe(value: Any) -> str:
    """A YAML user's name for a value's type, with the value: ``a string 'abc'``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**100 else None
        return f"an integer {value}" if digits is not None else "an integer of more than 100 digits"
    if isinstance(value, float):
        return f"a number {value:g}"
    if isinstance(value, str):
        return f"a string {_short(repr(value))}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unwrap(t: Any) -> Any:
    while get_origin(t) is Annotated:
        t = get_args(t)[0]
    return t


def _union_members(t: Any) -> list[Any]:
    t = _unwrap(t)
    if get_origin(t) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(t) if a is not type(None)]
    return [t]


def _tag_of(model: Any) -> str | None:
    """The ``Literal`` value of a union member's ``type`` field, if it has one."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    field = model.model_fields.get("type")
    if field is None:
        return None
    ann = _unwrap(field.annotation)
    if get_origin(ann) is Literal and len(get_args(ann)) == 1:
        tag = get_args(ann)[0]
        return tag if isinstance(tag, str) else None
    return None


@dataclass(frozen=True)
class _Resolved:
    """The model a ``loc`` prefix lands on, plus the union it was picked from (if any)."""

    model: type[BaseModel] | None
    siblings: list[type[BaseModel]]
    holder: str | None  # field name holding the union: 'rules', 'source'


def _walk(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[Any, _Resolved] | None:
    """Follow ``loc`` through the model classes: the annotation it ends on, or None if it leaves them."""
    t: Any = root
    where = _Resolved(None, [], None)
    last_field: str | None = None
    for part in loc:
        members = _union_members(t)
        tagged = [m for m in members if _tag_of(m) is not None]
        if len(tagged) > 1:
            chosen = next((m for m in tagged if _tag_of(m) == part), None)
            if chosen is not None:
                where = _Resolved(None, [m for m in tagged if m is not chosen], last_field)
                t = chosen
                continue
        t = members[0] if len(members) == 1 else t
        if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str):
            field = t.model_fields.get(part)
            if field is None:
                return None
            t, last_field, where = field.annotation, part, _Resolved(None, [], None)
        elif get_origin(_unwrap(t)) is list and isinstance(part, int):
            t = get_args(_unwrap(t))[0]
        else:
            return None
    return t, where


def _resolve(root: type[BaseModel], loc: Sequence[str | int]) -> _Resolved:
    walked = _walk(root, loc)
    if walked is None:
        return _Resolved(None, [], None)
    t, where = walked
    members = _union_members(t)
    model = members[0] if len(members) == 1 else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return _Resolved(model, where.siblings, where.holder)
    return _Resolved(None, [], None)


def _tags_at(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The ``type`` values a discriminated union at ``loc`` accepts, in declaration order."""
    walked = _walk(root, loc)
    if walked is None:
        return []
    return [tag for m in _union_members(walked[0]) if (tag := _tag_of(m))]


def _label(loc: Sequence[str | int]) -> str:
    """``window`` or ``notify[1]``: the last field name and any list indices after it."""
    label = ""
    for part in reversed(list(loc)):
        if isinstance(part, int):
            label = f"[{part}]{label}"
        else:
            return f"{part}{label}"
    return label or "value"


def _expected_list(ctx_text: str) -> list[str]:
    return [p.strip().strip("'") for p in ctx_text.replace(" or ", ", ").split(",") if p.strip()]


def _article(word: str) -> str:
    """``a`` or ``an`` as the word is read aloud: an all rule, an rsi rule, a vwap rule."""
    spoken_vowel = (word[:1] != "" and word[0] in "aeio") or word.split("_")[0] in ("rsi", "ma", "roc", "sma", "ema")
    return "an" if spoken_vowel else "a"


def _and_list(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _rule_level_fields() -> set[str]:
    """Fields of a whole rule, as written (``for``): a conjunction's condition cannot have them,
    they apply to the conjunction as a whole (gates, cooldown, bars, presentation)."""
    from ..rules.common import RuleCommon  # here, not at import: the rule models import this package

    return {field.alias or name for name, field in RuleCommon.model_fields.items()} | {"conditions"}


def _conjunction_excluded_owners(key: str, siblings: Sequence[type[BaseModel]]) -> list[str]:
    """Rule types that have ``key`` but may not be a conjunction's condition (``other``: spread).

    Only when no type that may be a condition has it: then the user wrote a parameter
    of a type the conjunction refuses, and "unknown field" would send them looking for
    a spelling mistake.
    """
    if any(key in s.model_fields for s in siblings):
        return []
    from ..rules.registry import REGISTRY  # here, not at import: the registry imports the models

    return [name for name, rt in REGISTRY.items() if not rt.in_conjunctions and key in rt.Body.model_fields]


def _unknown_field(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    key = str(loc[-1])
    where = _resolve(root, loc[:-1])
    if where.model is None:
        return f"unknown field '{key}'"
    allowed = [field.alias or name for name, field in where.model.model_fields.items()]  # as written: `for`
    tag = _tag_of(where.model)
    if where.holder == "conditions" and key in _rule_level_fields():
        return (
            f"'{key}' cannot be set on one condition of a conjunction: it applies to the whole rule, "
            f"so write it at the rule level (a condition holds only {_and_list(allowed)})"
        )
    if where.holder == "conditions" and key not in allowed:
        outside = _conjunction_excluded_owners(key, where.siblings)
        if outside:
            return (
                f"'{key}' is a parameter of {_and_list(outside)}, which cannot be a condition of a "
                f"conjunction ({_article(tag or '')} {tag} condition holds only {_and_list(allowed)})"
            )
    if tag is not None and where.siblings:
        noun = _UNION_NOUN.get(where.holder or "", where.holder or "item")
        owners = [t for s in where.siblings if key in s.model_fields and (t := _tag_of(s))]
        if tag == "all" and key in ("condition", "threshold"):
            return (
                f"'{key}' is not a field of an all rule: a conjunction has no {key} of its own, "
                f"each of its conditions has one"
            )
        if tag == "all" and owners:
            return (
                f"'{key}' is not a field of an all rule: it is a parameter of a condition's type "
                f"({_and_list(owners)}), so write it inside that condition"
            )
        if owners:
            return (
                f"'{key}' is not a field of {_article(tag)} {tag} {noun} "
                f"(it belongs to {_and_list(owners)} {noun}s)"
            )
    if root.__name__ == "Config" and list(loc) == ["rules"]:
        return "unknown field 'rules' (rules belong in *.yaml files under rules_dir)"
    hint = did_you_mean(key, allowed)
    if hint:
        return f"unknown field '{key}'{hint}"
    return f"unknown field '{key}' (allowed: {', '.join(allowed)})"


def _bad_tag(
    err: ErrorDetails, loc: Sequence[str | int], root: type[BaseModel]
) -> tuple[list[str | int], str, Anchor]:
    """An unknown or missing ``type`` of a discriminated union."""
    holder = next((p for p in reversed(list(loc)) if isinstance(p, str)), "")
    noun = _UNION_NOUN.get(holder, holder or "item")
    expected = _tags_at(root, loc)
    data = err.get("input")
    value = data.get("type") if isinstance(data, dict) else None
    if value is None:
        return list(loc) + ["type"], f"missing required field 'type' (one of: {', '.join(expected)})", "node"
    if not isinstance(value, str):
        return (
            list(loc) + ["type"],
            f"type: must be one of {', '.join(expected)}, got {describe(value)}",
            "value",
        )
    if holder == "conditions" and value not in expected:
        if value == "all":
            return (
                list(loc) + ["type"],
                f"a conjunction's conditions cannot be of type all (conjunctions do not nest: "
                f"list every condition in one conditions list); allowed: {', '.join(expected)}",
                "value",
            )
        from ..rules.registry import REGISTRY  # here, not at import: the registry imports the models

        if value in REGISTRY:
            return (
                list(loc) + ["type"],
                f"a conjunction's conditions cannot be of type {value}; allowed: {', '.join(expected)}",
                "value",
            )
    hint = did_you_mean(value, expected) or f" (expected one of: {', '.join(expected)})"
    return list(loc) + ["type"], f"unknown {noun} type '{value}'{hint}", "value"


_RENAMED = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "finite_number": "must be a finite number",
}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def conjunction_size(count: int | None) -> str:
    """The message for a conjunction with too few or too many conditions (also the loader's)."""
    got = f", got {count}" if count is not None else ""
    return f"conditions: a conjunction needs 2 to 8 conditions{got}"


def _value_message(err: ErrorDetails, label: str) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        detail = str(ctx.get("error", err["msg"]))
        field = label.split("[")[0]
        if detail.startswith(field + " "):
            detail = detail[len(field) + 1 :]
        if detail.startswith("must be a number, got "):
            detail = f"must be a number, got {describe(value)}"  # YAML words, not Python's
        return f"{label}: {detail}"
    if kind == "literal_error":
        expected = _expected_list(str(ctx.get("expected", "")))
        hint = did_you_mean(value, expected) if isinstance(value, str) else ""
        shown = f"'{value}'" if isinstance(value, str) else describe(value)
        return f"{label}: {shown} is not one of {', '.join(expected)}{hint}"
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        return f"{label}: must be {op} {ctx.get(key)}, got {_short(repr(value))}"
    if kind == "string_pattern_mismatch" and label == "id":
        return f"id: {value!r} may only contain ASCII letters, digits, '_', '.' and '-'"
    if kind == "string_too_short":
        return f"{label}: must not be empty"
    if kind in ("too_short", "too_long") and label == "conditions":
        count = ctx.get("actual_length")
        return conjunction_size(count if isinstance(count, int) else None)
    if kind == "too_short":
        return f"{label}: needs at least {ctx.get('min_length')} items, got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"{label}: may have at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    if kind in _RENAMED:
        text = f"{label}: {_RENAMED[kind]}, got {describe(value)}"
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            text += " (put it in quotes)"
        if kind == "list_type" and label in ("hours", "days") and isinstance(value, str):
            one = f'"{value}"' if ":" in value else value
            text += f" (write {label}: [{one}])"
        return text
    msg = err["msg"].replace("Input should be", "must be")
    return f"{label}: {msg[:1].lower()}{msg[1:]}"


def explain(error: ValidationError, doc: YamlDocument, root: type[BaseModel]) -> list[Problem]:
    """Every error of one ``model_validate`` call as located, human problems."""
    problems: list[Problem] = []
    for err in error.errors(include_url=False):
        loc = list(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            problems.append(doc.problem(loc, _unknown_field(root, loc), "key"))
        elif kind == "missing":
            problems.append(doc.problem(loc, f"missing required field '{loc[-1]}'", "node"))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            where, message, at = _bad_tag(err, loc, root)
            problems.append(doc.problem(where, message, at))
        elif kind in ("model_type", "model_attributes_type", "dict_type") and len(loc) >= 2 and loc[-2] == "rules":
            message = f"each rule must be a mapping of fields (id, instrument, type, ...), got {describe(err.get('input'))}"
            problems.append(doc.problem(loc, message, "value"))
        else:
            problems.append(doc.problem(loc, _value_message(err, _label(loc)), "value"))
    return problems
