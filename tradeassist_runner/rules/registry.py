"""The rule types: every module of ``rules/types`` that defines ``RULE_TYPE``.

Found by listing the package, so adding a type is adding its module: nothing else
names types (the config union, JSON Schema, API models, messages, templates and explain
all iterate ``REGISTRY``).  Order is the modules' names, so it is stable.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import types as _types_package
from .seam import RuleType


def _discover() -> dict[str, RuleType]:
    found: dict[str, RuleType] = {}
    for info in sorted(pkgutil.iter_modules(_types_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_types_package.__name__}.{info.name}")
        rule_type = getattr(module, "RULE_TYPE", None)
        if rule_type is None:
            continue
        if rule_type.name in found or rule_type.name == "all":
            raise RuntimeError(f"rule type name {rule_type.name!r} is defined twice")
        found[rule_type.name] = rule_type
    return found


#: name -> rule type.  Built once at import; never mutated afterwards.
REGISTRY: dict[str, RuleType] = _discover()

#: How the shipped types are listed to users (validation messages, docs): the classic three
#: first, then the rest by name.
TYPE_NAMES: tuple[str, ...] = tuple(
    sorted(REGISTRY, key=lambda n: (["threshold", "rate_of_change", "volume_spike"] + [n]).index(n))
) + ("all",)
