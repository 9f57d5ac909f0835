"""JSON Schemas generated from the models, for editors (YAML language server) and CI.

Generated, never hand-written: the models are the one definition of a valid file, so
the schema an editor checks against cannot drift from what ``validate`` accepts.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ..rules.catalog import RulesFile
from .models import Config

SchemaKind = Literal["rules", "config"]


def json_schema(kind: SchemaKind) -> dict[str, Any]:
    model = RulesFile if kind == "rules" else Config
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "TradeAssist rules file" if kind == "rules" else "TradeAssist config file"
    return schema


def render(kind: SchemaKind) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"
