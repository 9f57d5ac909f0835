"""load_config: what a user gets back from a valid project, and how each file-level mistake reads."""

from __future__ import annotations

import typing
from datetime import timedelta
from pathlib import Path

import pytest

from tradeassist_runner.rules.catalog import RULE_MODELS
from tradeassist_runner.config.loaded import LoadedConfig
from tradeassist_runner.config.loader import find_rule_files, load_config
from tradeassist_runner.config.models import Condition
from tradeassist_runner.errors import ConfigError

from .conftest import BASE_CONFIG, WriteProject

RateOfChangeRule = RULE_MODELS["rate_of_change"]
VolumeSpikeRule = RULE_MODELS["volume_spike"]

pytestmark = pytest.mark.usefixtures("yaml_path")  # fast parse and round trip alike

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "config.yaml"

RULE = """\
  - id: {id}
    instrument: {instrument}
    type: threshold
    condition: above
    threshold: {threshold}
"""


def rules_yaml(*rules: dict[str, object]) -> str:
    return "rules:\n" + "".join(RULE.format(**{"instrument": "/ES", "threshold": 1, **r}) for r in rules)


def problems_of(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    return [str(p) for p in caught.value.problems]


# --- the shipped example project -------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> LoadedConfig:
    return load_config(SHIPPED)


def test_shipped_config_loads_cleanly(shipped: LoadedConfig) -> None:
    assert shipped.rules, "the shipped rules.d should contain example rules"
    assert [p.name for p in shipped.rule_files] == sorted(p.name for p in shipped.rule_files)
    assert shipped.resolve(shipped.config.rules_dir) == (REPO / "rules.d").resolve()


def test_shipped_rules_use_every_rule_type_and_condition(shipped: LoadedConfig) -> None:
    from tradeassist_runner.rules.catalog import bodies
    from tradeassist_runner.rules.registry import REGISTRY

    types = {r.rule.type for r in shipped.rules}
    conditions = {b.condition for r in shipped.rules for b in bodies(r.rule)}
    assert types == {*REGISTRY, "all"}
    assert conditions == set(typing.get_args(Condition))
    modifiers = {name for r in shipped.rules for name in ("bar", "for_", "rearm", "hours", "days", "calendar")
                 if getattr(r.rule, name) is not None}
    assert modifiers == {"bar", "for_", "rearm", "hours", "days", "calendar"}
    assert {r.rule.severity for r in shipped.rules} == {"info", "warning", "critical"}


def test_shipped_instruments_are_declared_in_schwab_form(shipped: LoadedConfig) -> None:
    kinds = {i.symbol: i.type for i in shipped.instruments}
    assert kinds == {
        **dict.fromkeys(["/ES", "/NQ", "/YM", "/CL", "/GC"], "future"),
        **dict.fromkeys(["$SPX", "$NDX", "$RUT"], "index"),
        **dict.fromkeys(["$VIX", "$TICK", "$ADD", "$TRIN"], "internal"),
    }
    assert all(i.name for i in shipped.instruments)
    assert shipped.config.source.type == "synthetic"


def test_every_shipped_rules_file_carries_the_schema_modeline() -> None:
    files = find_rule_files(REPO / "rules.d")
    assert files
    for f in files:
        first = f.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schema/rules.schema.json", f.name


# --- a valid project -------------------------------------------------------------------


def test_rules_are_ordered_by_file_name_then_position(write_project: WriteProject) -> None:
    config = write_project(
        rules={
            "b.yml": rules_yaml({"id": "b1"}, {"id": "b2"}),
            "a.yaml": rules_yaml({"id": "a1"}, {"id": "a2"}),
            "c.yaml": rules_yaml({"id": "c1"}),
        }
    )
    loaded = load_config(config)
    assert [r.rule.id for r in loaded.rules] == ["a1", "a2", "b1", "b2", "c1"]
    assert [p.name for p in loaded.rule_files] == ["a.yaml", "b.yml", "c.yaml"]
    second = loaded.rules[1].source
    assert (Path(second.path).name, second.line, second.column) == ("a.yaml", 7, 5)


def test_defaults_and_types_reach_the_models(write_project: WriteProject) -> None:
    config = write_project(
        rules={
            "r.yaml": """\
            rules:
              - id: tick.low
                instrument: $TICK
                type: rate_of_change
                window: 1500ms
                condition: crosses_below
                threshold: -600
              - id: es.vol
                instrument: /ES
                type: volume_spike
                period: 20
                condition: above
                threshold: 3
                cooldown: 0s
                active: false
            """
        }
    )
    roc, vol = (r.rule for r in load_config(config).rules)
    assert isinstance(roc, RateOfChangeRule) and isinstance(vol, VolumeSpikeRule)
    assert roc.window == timedelta(milliseconds=1500)
    assert roc.threshold == -600.0  # negative thresholds are fine for internals like $TICK
    assert roc.cooldown == timedelta(seconds=60) and roc.active and roc.severity == "warning"
    assert vol.cooldown == timedelta(0) and vol.active is False and vol.period == 20


@pytest.mark.parametrize(
    "text",
    ["", "# nothing yet\n", "rules: []\n", "rules:\n  # - id: off.for.now\n", "instruments: []\nrules: []\n"],
    ids=["empty", "only-comments", "empty-list", "all-commented-out", "both-empty"],
)
def test_an_empty_rules_file_is_fine(write_project: WriteProject, text: str) -> None:
    config = write_project(rules={"empty.yaml": text, "real.yaml": rules_yaml({"id": "x"})})
    assert [r.rule.id for r in load_config(config).rules] == ["x"]


def test_rules_files_may_declare_instruments(write_project: WriteProject) -> None:
    config = write_project(
        rules={
            "gold.yaml": """\
            instruments:
              - {symbol: /GC, name: Gold futures, type: future}
              - {symbol: /ES, name: E-mini S&P 500 futures, type: future}
            rules:
              - {id: gc.up, instrument: /GC, type: threshold, condition: above, threshold: 2700}
            """
        }
    )
    loaded = load_config(config)
    assert [i.symbol for i in loaded.instruments] == ["/ES", "$TICK", "/GC"]


def test_conflicting_instrument_declarations_name_both_places(write_project: WriteProject) -> None:
    config = write_project(rules={"x.yaml": "instruments:\n  - {symbol: /ES, type: index}\n"})
    here, there = f"{config}", f"{config.parent}/rules.d/x.yaml"
    assert problems_of(config) == [
        f"{here}:2:5: instrument '/ES' conflicts with its declaration at {there}:2:5 "
        "(name: 'E-mini S&P 500 futures' here, None there; type: 'future' here, 'index' there)",
        f"{there}:2:5: instrument '/ES' conflicts with its declaration at {here}:2:5 "
        "(name: None here, 'E-mini S&P 500 futures' there; type: 'index' here, 'future' there)",
    ]


def test_missing_fields_point_at_the_start_of_the_rule(write_project: WriteProject) -> None:
    config = write_project(
        rules={
            "r.yaml": """\
            rules:
              - id: ok
                instrument: /ES
                type: threshold
                condition: above
                threshold: 1
              -   type: threshold
                  condition: above
                  threshold: 1
              - {type: volume_spike, id: v, instrument: /ES, threshold: 2}
            """
        }
    )
    path = f"{config.parent}/rules.d/r.yaml"
    assert problems_of(config) == [
        f"{path}:7:7: missing required field 'id'",
        f"{path}:7:7: missing required field 'instrument'",
        f"{path}:10:5: missing required field 'condition'",
        f"{path}:10:5: missing required field 'period'",
    ]


def test_yaml_1_2_words_and_dates_stay_text(write_project: WriteProject) -> None:
    config = write_project(
        rules={
            "r.yaml": """\
            rules:
              - id: on
                name: 2026-01-05
                description: no
                instrument: /ES
                type: threshold
                condition: above
                threshold: 1
            """
        }
    )
    rule = load_config(config).rules[0].rule
    assert (rule.id, rule.name, rule.description) == ("on", "2026-01-05", "no")


def test_find_rule_files_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ["b.yml", "a.yaml", ".a.yaml", "notes.txt", "c.yaml.bak"]:
        (tmp_path / name).write_text("rules: []\n", encoding="utf-8")
    (tmp_path / "sub.yaml").mkdir()
    assert [p.name for p in find_rule_files(tmp_path)] == ["a.yaml", "b.yml"]


# --- file-level mistakes -----------------------------------------------------------------


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems_of(missing) == [f"{missing}:1:1: file not found"]


def test_missing_rules_dir_points_at_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("instruments: []\nrules_dir: ../gone\n", encoding="utf-8")
    assert problems_of(config) == [
        f"{config}:2:12: rules_dir '../gone' does not exist ({tmp_path}/../gone)"
    ]


def test_missing_default_rules_dir_points_at_the_top(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("instruments: []\n", encoding="utf-8")
    assert problems_of(config) == [f"{config}:1:1: rules_dir 'rules.d' does not exist ({tmp_path}/rules.d)"]


def test_a_rules_file_must_be_a_mapping(write_project: WriteProject) -> None:
    config = write_project(rules={"list.yaml": "# a list by mistake\n- id: x\n  type: threshold\n"})
    assert problems_of(config) == [
        f"{config.parent}/rules.d/list.yaml:2:1: a rules file must be a mapping with a 'rules:' list, got a list"
    ]


def test_duplicate_keys_are_syntax_errors(write_project: WriteProject) -> None:
    text = rules_yaml({"id": "x"}) + "    threshold: 2\n"
    config = write_project(rules={"dup.yaml": text})
    assert problems_of(config) == [
        f"{config.parent}/rules.d/dup.yaml:7:5: duplicate key 'threshold' (each key may appear only once in a mapping)"
    ]


def test_unknown_yaml_tags_are_refused(write_project: WriteProject) -> None:
    config = write_project(rules={"tag.yaml": "rules:\n  - !include other.yaml\n"})
    assert problems_of(config) == [f"{config.parent}/rules.d/tag.yaml:2:5: unsupported YAML tag '!include'"]


def test_the_config_files_own_fields_are_checked(write_project: WriteProject) -> None:
    config = write_project(
        config=BASE_CONFIG
        + """\
source:
  type: synthetc
batch:
  max_delay: soon
storage:
  sqllite: a.db
rules:
  - id: x
"""
    )
    assert problems_of(config) == [
        f"{config}:9:9: unknown source type 'synthetc' (did you mean 'synthetic'?)",
        f"{config}:11:14: max_delay: invalid duration 'soon': use a number with a unit, e.g. 1500ms, 30s, 5m, 1h, 1d",
        f"{config}:13:3: unknown field 'sqllite' (did you mean 'sqlite'?)",
        f"{config}:14:1: unknown field 'rules' (rules belong in *.yaml files under rules_dir)",
    ]


def test_relative_config_paths_print_relative_locations(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(rules={"r.yaml": rules_yaml({"id": "x", "threshold": "abc"})})
    monkeypatch.chdir(config.parent.parent)
    relative = Path(config.parent.name) / "config.yaml"
    assert problems_of(relative) == [
        f"{config.parent.name}/rules.d/r.yaml:6:16: threshold: must be a number, got a string 'abc'"
    ]
