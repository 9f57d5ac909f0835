"""The generated JSON Schema accepts the shipped files and rejects what validate rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tradeassist_runner.config.schema import json_schema, render

ROOT = Path(__file__).resolve().parents[2]


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text()) or {}


@pytest.mark.parametrize("kind", ["rules", "config"])
def test_committed_schema_files_are_up_to_date(kind: str) -> None:
    # Regenerate with: tradeassist schema --kind KIND > schema/KIND.schema.json
    assert (ROOT / "schema" / f"{kind}.schema.json").read_text() == render(kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted((ROOT / "rules.d").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_rule_files_validate(path: Path) -> None:
    jsonschema.validate(_yaml(path), json_schema("rules"))


def test_shipped_config_validates() -> None:
    jsonschema.validate(_yaml(ROOT / "config" / "config.yaml"), json_schema("config"))


def test_a_misspelled_key_is_rejected() -> None:
    doc = {"rules": [{"id": "a", "instrument": "/ES", "type": "threshold", "condition": "above",
                      "threshold": 1, "cooldwn": "5m"}]}
    with pytest.raises(jsonschema.ValidationError, match="cooldwn"):
        jsonschema.validate(doc, json_schema("rules"))


def test_a_field_of_another_rule_type_is_rejected() -> None:
    doc = {"rules": [{"id": "a", "instrument": "/ES", "type": "threshold", "condition": "above",
                      "threshold": 1, "window": "30s"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json_schema("rules"))
