"""The fast load path against the reference: same data, same locations, same problems.

``load_config`` reads files with :mod:`tradeassist_runner.config.fast_yaml` (a line
reader, then libyaml) and reuses unchanged rules files; ``load_config(fast=False)`` is
the reference (ruamel's round-trip parse of everything).  These tests hold the two
together: on whole projects, file by file, and on many small YAML texts near the edge
of what the fast reader accepts.
"""

from __future__ import annotations

import functools
import gc
import math
import os
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedSeq

from tradeassist_runner.config import fast_yaml, yaml_source
from tradeassist_runner.config.fast_yaml import FastDocument
from tradeassist_runner.config.loaded import LoadedConfig
from tradeassist_runner.config import loader
from tradeassist_runner.config.loader import RulesFileCache, find_rule_files, load_config
from tradeassist_runner.config.yaml_source import YamlDocument, parse_yaml, to_plain
from tradeassist_runner.errors import ConfigError

from .conftest import WriteProject
from .test_validate_cases import CONFIG, FUTURES, MORE, SYNTAX_ERROR, expected_lines

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "config.yaml"


@pytest.fixture(autouse=True)
def cache(monkeypatch: pytest.MonkeyPatch) -> RulesFileCache:
    """Every load of a test shares one cache, as a runner's reloads do."""
    fresh = RulesFileCache()
    monkeypatch.setitem(globals(), "load_config", functools.partial(loader.load_config, cache=fresh))
    return fresh


def problems(config: Path, fast: bool = True) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config, fast=fast)
    return [str(p) for p in caught.value.problems]


def same_either_way(config: Path) -> LoadedConfig:
    fast = load_config(config)
    assert fast == load_config(config, fast=False)
    assert [r.source for r in fast.rules] == [r.source for r in load_config(config, fast=False).rules]
    return fast


# --- whole projects --------------------------------------------------------------------


def test_the_shipped_config_loads_the_same_either_way() -> None:
    loaded = same_either_way(SHIPPED)
    assert loaded.rules
    again = load_config(SHIPPED)  # now from the cache
    assert again == loaded


def test_the_shipped_rules_files_take_the_line_reader() -> None:
    """Plain block YAML, the way rules files are written, never needs libyaml or ruamel."""
    for file in find_rule_files(REPO / "rules.d"):
        text = file.read_text(encoding="utf-8-sig")
        assert fast_yaml._compose_lines(text).data == to_plain(yaml_source._new_yaml().load(text)), file.name


def _rule(rng: random.Random, i: int, symbols: list[str]) -> dict[str, str]:
    kind = rng.choice(["threshold", "rate_of_change", "volume_spike"])
    fields = {
        "id": rng.choice([f"r{i}", f"'r.{i}'", f'"r-{i}"', f"rule_{i}.x"]),
        "instrument": rng.choice([f"'{s}'" for s in symbols] + symbols),
        "type": kind,
        "condition": rng.choice(["above", "below", "crosses_above", "crosses_below"]),
        "threshold": rng.choice(["6000", "-600", "0.25", "1e3", "+2.5", "007", "5961.5785"]),
    }
    if kind == "rate_of_change":
        fields["window"] = rng.choice(["30s", "1m", "'5m'", "1500ms"])
    if kind == "volume_spike":
        fields["period"] = rng.choice(["10", "20"])
        fields["threshold"] = rng.choice(["2", "3.5", "5"])
    for name, values in {
        "cooldown": ["0s", "60s", "1h30m"],
        "active": ["true", "false", "True"],
        "severity": ["info", "critical", "'warning'"],
        "name": ["S&P breakout!", "it's high", "'quoted # not a comment'", "2026-01-05", "on", "Ünïcödé ✓"],
        "description": ['"double quoted"', "two  spaces", "x # trailing comment", "~"],
        "message": ["'{symbol} {value}'", "Level {threshold} hit"],
    }.items():
        if rng.random() < 0.3:
            fields[name] = rng.choice(values)
    return fields


def _rules_text(rng: random.Random, start: int, n: int, symbols: list[str], style: str) -> str:
    lines = ["# generated", "rules:"]
    for i in range(start, start + n):
        fields = _rule(rng, i, symbols)
        if rng.random() < 0.1:
            lines.append(rng.choice(["", "  # a comment", "#"]))
        if style == "flow":  # (free text would need quoting there)
            text = {k: v for k, v in fields.items() if k not in ("name", "description", "message")}
            lines.append("  - {" + ", ".join(f"{k}: {v}" for k, v in text.items()) + "}")
            continue
        dash = "- " if style == "indentless" else rng.choice(["  - ", "  - ", "  -   "])
        indent = " " * len(dash)
        for j, (k, v) in enumerate(fields.items()):
            lines.append(f"{dash if j == 0 else indent}{k}: {v}")
    return "\n".join(lines) + "\n"


def test_a_generated_multi_file_rule_set_loads_the_same_either_way(write_project: WriteProject) -> None:
    rng = random.Random(7)
    symbols = ["/ES", "$TICK"]
    files = {
        "a_block.yaml": _rules_text(rng, 0, 150, symbols, "block"),
        "b_indentless.yml": _rules_text(rng, 150, 100, symbols, "indentless"),
        "c_flow.yaml": _rules_text(rng, 250, 100, symbols, "flow"),
        "d_instruments.yaml": "instruments:\n  - symbol: /GC\n    type: future\n"
        + _rules_text(rng, 350, 50, ["/GC"], "block").removeprefix("# generated\n"),
        "e_anchors.yaml": textwrap.dedent(
            """\
            rules:
              - &base {id: base, instrument: /ES, type: threshold, condition: above, threshold: 1}
              - <<: *base
                id: merged
            """
        ),
        "f_empty.yaml": "rules: []  # none yet\n",
    }
    config = write_project(rules=files)
    loaded = same_either_way(config)
    assert len(loaded.rules) == 402
    tail = [(r.rule.id, r.source.line, r.source.column) for r in loaded.rules[-2:]]
    assert tail == [("base", 2, 5), ("merged", 3, 5)]
    rules_dir = config.parent / "rules.d"
    for name in ("a_block.yaml", "b_indentless.yml", "d_instruments.yaml", "f_empty.yaml"):
        fast_yaml._compose_lines((rules_dir / name).read_text())  # read by the line reader
    with pytest.raises(fast_yaml._Decline):
        fast_yaml._compose_lines((rules_dir / "c_flow.yaml").read_text())
    assert fast_yaml._compose((rules_dir / "c_flow.yaml").read_text()) is not None  # ... this one by libyaml


def test_yaml_the_fast_reader_declines_still_loads(write_project: WriteProject) -> None:
    """Anchors, merge keys, block scalars, hex numbers, underscores: ruamel reads those files."""
    config = write_project(
        rules={
            "x.yaml": textwrap.dedent(
                """\
                rules:
                  - &base
                    id: base
                    instrument: /ES
                    type: threshold
                    condition: above
                    threshold: 0x10
                    message: |
                      {symbol} is above {threshold}
                  - <<: *base
                    id: derived
                    threshold: 1_000
                """
            )
        }
    )
    assert yaml_source.parse_fast((config.parent / "rules.d" / "x.yaml").read_text()) is None
    loaded = same_either_way(config)
    got = [(r.rule.id, r.rule.threshold, r.source.line) for r in loaded.rules]
    assert got == [("base", 16.0, 2), ("derived", 1000.0, 10)]


# --- problems ----------------------------------------------------------------------------


def test_the_ten_mistakes_read_the_same_either_way(write_project: WriteProject) -> None:
    config = write_project(
        config=CONFIG, rules={"a_broken.yaml": SYNTAX_ERROR, "b_futures.yaml": FUTURES, "c_more.yaml": MORE}
    )
    fast = problems(config)
    assert fast == problems(config, fast=False)
    assert set(fast) == expected_lines(config.parent)
    assert problems(config) == fast  # nothing cached changes them


def test_a_problem_in_a_cached_file_is_located_like_the_reference(write_project: WriteProject, cache: RulesFileCache) -> None:
    """A valid, cached file gets a problem from another file: its location needs its round-trip tree."""
    rules = "".join(
        f"  - id: r{i}\n    instrument: /ES\n    type: threshold\n    condition: above\n    threshold: {i}\n"
        for i in range(20)
    )
    config = write_project(rules={"a.yaml": "rules:\n" + rules})
    load_config(config)
    assert len(cache) == 1
    (config.parent / "rules.d" / "b.yaml").write_text(
        "rules:\n  - {id: r13, instrument: /ES, type: threshold, condition: above, threshold: 1}\n"
    )
    a, b = config.parent / "rules.d" / "a.yaml", config.parent / "rules.d" / "b.yaml"
    expected = [
        f"{a}:67:9: duplicate rule id 'r13' (also defined at {b}:2:10)",
        f"{b}:2:10: duplicate rule id 'r13' (also defined at {a}:67:9)",
    ]
    assert problems(config) == expected
    assert problems(config, fast=False) == expected


def test_when_the_fast_read_and_ruamel_disagree_ruamel_wins(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a file the fast path read turns out to be one ruamel refuses, the load is redone by ruamel."""
    broken = "rules: [\n"
    config = write_project(
        rules={
            "a.yaml": "rules:\n  - {id: dup, instrument: /ES, type: threshold, condition: above, threshold: 1}\n",
            "b.yaml": broken,
        }
    )
    real = yaml_source.parse_fast
    pretend = {"rules": [{"id": "dup", "instrument": "/ES", "type": "threshold", "condition": "above", "threshold": 1}]}

    def lenient(text: str) -> FastDocument | None:
        return FastDocument(pretend, {"rules": [(1, 9)]}) if text == broken else real(text)

    monkeypatch.setattr(yaml_source, "parse_fast", lenient)
    reference = problems(config, fast=False)
    assert reference == [
        f"{config.parent}/rules.d/b.yaml:2:1: YAML syntax error: expected the node content, "
        "but found '<stream end>' (while parsing a flow node)"
    ]
    assert problems(config) == reference  # not "duplicate rule id 'dup'": b.yaml was read again by ruamel


def test_gc_is_left_as_it_was(write_project: WriteProject) -> None:
    config = write_project(rules={"a.yaml": "rules: []\n", "b.yaml": "rules: [\n"})
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        load_config(config)
    assert gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(ConfigError):
            load_config(config)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- the cache -----------------------------------------------------------------------------


RULE_AT = "rules:\n  - {{id: r, instrument: /ES, type: threshold, condition: above, threshold: {}}}\n"


def test_an_edited_file_is_never_served_from_the_cache(write_project: WriteProject) -> None:
    config = write_project(rules={"a.yaml": RULE_AT.format(1), "b.yaml": "rules: []\n"})
    a = config.parent / "rules.d" / "a.yaml"
    assert load_config(config).rules[0].rule.threshold == 1
    before = a.stat()
    a.write_text(RULE_AT.format(2))  # same size ...
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... same modification time
    after = a.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert load_config(config).rules[0].rule.threshold == 2
    assert load_config(config, fast=False).rules[0].rule.threshold == 2


def test_only_changed_files_are_read_again(write_project: WriteProject, cache: RulesFileCache) -> None:
    config = write_project(rules={f"f{k}.yaml": RULE_AT.format(k).replace("id: r", f"id: r{k}") for k in range(10)})
    first = load_config(config)
    cache.hits = cache.misses = 0
    (config.parent / "rules.d" / "f4.yaml").write_text(RULE_AT.format(44).replace("id: r", "id: r4"))
    second = load_config(config)
    assert (cache.hits, cache.misses) == (9, 1)
    assert [r.rule.threshold for r in second.rules] == [0, 1, 2, 3, 44, 5, 6, 7, 8, 9]
    assert second.rules[:4] == first.rules[:4] and second.rules[5:] == first.rules[5:]
    assert second == load_config(config, fast=False)


def test_a_file_with_its_own_problem_is_not_cached(write_project: WriteProject, cache: RulesFileCache) -> None:
    config = write_project(rules={"a.yaml": RULE_AT.format("high")})
    where = config.parent / "rules.d" / "a.yaml"
    assert problems(config) == [f"{where}:2:76: threshold: must be a number, got a string 'high'"]
    assert len(cache) == 0
    assert problems(config) == problems(config, fast=False)


def test_the_same_file_shown_under_another_path_is_not_shared(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(rules={"a.yaml": RULE_AT.format(1)})
    absolute = load_config(config)
    monkeypatch.chdir(config.parent)
    relative = load_config("config.yaml")
    assert absolute.rules[0].source.path == str(config.parent / "rules.d" / "a.yaml")
    assert relative.rules[0].source.path == "rules.d/a.yaml"


def test_the_cache_keeps_at_most_max_files() -> None:
    from tradeassist_runner.config.loader import _Collected

    cache = RulesFileCache(max_files=2)
    for name in "abc":
        cache.put(Path(name), name, b"x", _Collected())
    assert len(cache) == 2
    assert cache.get(Path("a"), "a", b"x") is None
    assert cache.get(Path("c"), "c", b"x") is not None
    assert cache.get(Path("c"), "c", b"y") is None


# --- file by file: the fast reader against ruamel ---------------------------------------------


def _reference(text: str) -> tuple[Any, dict[str, list[tuple[int, int]]]] | None:
    try:
        tree = yaml_source._new_yaml().load(text)
    except Exception:
        return None
    doc = YamlDocument("x", to_plain(tree), tree)
    items = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(key, str) and isinstance(value, CommentedSeq) and value:
                items[key] = [doc.position([key, i]) for i in range(len(value))]
    return doc.data, items


def _identical(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        same_keys = list(map(type, a)) == list(map(type, b)) and list(a) == list(b)
        return same_keys and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return bool(a == b)


def _parse_fast(text: str) -> FastDocument | fast_yaml.Refused | None:
    try:
        return fast_yaml.parse_fast(text)
    except fast_yaml.Refused as refused:
        return refused


def _stages(text: str) -> dict[str, FastDocument | fast_yaml.Refused | None]:
    """What each stage of the fast reader makes of ``text`` (None: declined)."""
    out: dict[str, FastDocument | fast_yaml.Refused | None] = {}
    if fast_yaml._unsafe(text):
        return {"lines": None, "libyaml": None, "parse_fast": _parse_fast(text)}
    try:
        out["lines"] = None if "\r" in text else fast_yaml._compose_lines(text)
    except fast_yaml._Decline:
        out["lines"] = None
    try:
        out["libyaml"] = fast_yaml._compose(text)
    except fast_yaml.Refused as refused:
        out["libyaml"] = refused
    except Exception:
        out["libyaml"] = None
    out["parse_fast"] = _parse_fast(text)
    return out


def _assert_refused_as_ruamel_does(refused: fast_yaml.Refused, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        yaml_source._parse_round_trip(text, "x")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.message) == (refused.line, refused.column, refused.message)


def assert_read_as_ruamel_does(text: str) -> dict[str, bool]:
    """Every stage either declines ``text`` or reads exactly ruamel's data and item positions."""
    reference = _reference(text)
    accepted = {}
    for stage, got in _stages(text).items():
        accepted[stage] = got is not None
        if got is None:
            continue
        if isinstance(got, fast_yaml.Refused):
            _assert_refused_as_ruamel_does(got, text)
            accepted[stage] = False  # (refused, as ruamel refuses it)
            continue
        assert reference is not None, f"{stage} read text ruamel refuses: {text!r}"
        data, items = reference
        assert _identical(got.data, data), (stage, text, got.data, data)
        assert {k: v for k, v in got.items.items() if v} == items, (stage, text)
    return accepted


SNIPPETS = {
    # what rules files look like: the line reader takes them
    "rules": "rules:\n  - id: a\n    instrument: /ES\n    threshold: -600\n  -   id: b\n      name: S&P 500\n",
    "indentless": "rules:\n- id: a\n  notify:\n  - slack\n  - 'mail'\nother: 1\n",
    "nested": "a:\n  b:\n    c: 1\n  d:\n    - x\n    - y # c\n\n# end\ne: ~\n",
    "pending-null": "a:\nb:\n  # nothing\nc:\n",
    "quotes": "a: 'it''s # here'  # comment\nb: \"x: y\"\nc: ''\nd: \"\"\n",
    "words": "a: yes\nb: on\nc: No\nd: TRUE\ne: false\nf: null\ng: Null\nh: ~\ni: 2026-01-05\n",
    "timestamp": "a: 2026-01-05 10:00:00\nb: http://x\n",
    "numbers": "a: 1\nb: -0\nc: 007\nd: +5\ne: 1.5\nf: -0.0\ng: 1.\nh: .5\ni: -.5\nj: 1e3\nk: 1.5E-3\n"
    "l: .inf\nm: -.Inf\n",
    "unicode": "a: Ünïcödé ✓\nb: 😀 x\nc: a\u00a0b\nd: \u3000x\n",
    "empty-flow": "a: []\nb: {}\nrules: [] # none\n",
    "empty": "",
    "comments-only": "# nothing\n\n   # here\n",
    "root-list": "- a\n- b: 1\n  c: 2\n- - nested\n",
    "windows": "rules:\r\n  - id: a\r\n    threshold: 1\r\n",
    "flow": "rules:\n  - {id: a, threshold: 1}\n  - [x, y]\n  - 'q'\n",
    "multi-line": "a: one\n  two\nb: 'three\n  four'\nc: \"five\\\n  six\"\n",
    # what the fast reader must leave to ruamel
    "anchor": "a: &x 1\nb: *x\n",
    "merge": "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "tags": "a: !!str 1\nb: ! 2\nc: !foo x\n",
    "directive": "%YAML 1.1\n---\na: yes\n",
    "duplicate": "a: 1\na: 2\n",
    "duplicate-pending": "a:\na: 2\n",
    "tab": "a:\t1\n",
    "hex": "a: 0x1F\nb: 0o17\nc: 1_000\nd: .nan\ne: =\n",
    "underscore": "a: 0_\nb: _\n",
    "literal": "a: |\n  x\n  y\nb: >\n  folded\n  text\n",
    "bad-header": "a: |#\n  x\n",
    "two-docs": "a: 1\n---\nb: 2\n",
    "bad-indent": "a:\n    b: 1\n  c: 2\n",
    "after-scalar": "a: 1\n  b: 2\n",
    "complex-key": "? [a]\n: 1\n",
    "bool-key": "true: 1\n",
    "nel": "a: x\x85y\n",
    "control": "a: x\x07y\n",
    "bom-inside": "a: x\ufeffy\n",
    "deep-block": "".join(" " * i + "a:\n" for i in range(100)),
    "deep-flow": "a: " + "[" * 100 + "]" * 100 + "\n",
    "depth-64": "a: " + "[" * 62 + "x" + "]" * 62 + "\n",  # the value x is 64 levels deep: read
    "depth-65": "a: " + "[" * 63 + "x" + "]" * 63 + "\n",  # 65: refused, at x
    "block-depth-64": "".join(" " * i + "a:\n" for i in range(62)) + " " * 62 + "a: x\n",
    "block-depth-65": "".join(" " * i + "a:\n" for i in range(63)) + " " * 63 + "a: x\n",
}


@pytest.mark.parametrize("text", list(SNIPPETS.values()), ids=list(SNIPPETS))
def test_each_stage_reads_as_ruamel_or_declines(text: str) -> None:
    assert_read_as_ruamel_does(text)


@pytest.mark.parametrize(
    ("name", "lines", "libyaml"),
    [
        ("rules", True, True), ("indentless", True, True), ("nested", True, True), ("pending-null", True, True),
        ("quotes", True, True), ("words", True, True), ("numbers", True, True), ("unicode", True, True),
        ("empty-flow", True, True), ("empty", True, True), ("root-list", False, True), ("windows", False, True),
        ("flow", False, True), ("multi-line", False, True), ("timestamp", False, True),
        ("anchor", False, False), ("merge", False, False), ("tags", False, False), ("directive", False, False),
        ("duplicate", False, False), ("duplicate-pending", False, False), ("tab", False, False), ("hex", False, False),
        ("underscore", False, False), ("literal", False, False), ("bad-header", False, False),
        ("two-docs", False, False), ("bad-indent", False, False), ("after-scalar", False, False),
        ("complex-key", False, False), ("bool-key", False, True), ("nel", False, False), ("control", False, False),
        ("bom-inside", False, False), ("deep-block", False, False), ("deep-flow", False, False),
    ],
)
def test_which_stage_reads_what(name: str, lines: bool, libyaml: bool) -> None:
    accepted = assert_read_as_ruamel_does(SNIPPETS[name])
    assert (accepted["lines"], accepted["libyaml"]) == (lines, libyaml)
    assert accepted["parse_fast"] == (lines or libyaml)


_VALUES = [
    "a b", "S&P 500", "x!", "it's", 'say "hi"', "é", "1e3", "1.5e-3", "0o17", "017", "-.5", "+1", "-0.0", "~", "null",
    "TRUE", "2026-01-05", "a\\b", "a=b", "=", "a % b", ".", "...", "$x", "/x", "x  y", "1_000", "0x1F", ".inf", ".nan",
    "_", "-600",
    "'/ES'", "'it''s'", "''", '""', '"a b"', "'a # b'", "x # c", "'q' # c", "[]", "{}", "- x", "-", "?x", "a:b", "a: b",
    "a#b", "a #b", "'a'b", "[a]", "{a: 1}", "|", "!x", "&a", "*a", "%x", "@x", "x  ", "1.", "on", "<<", "---",
    "a[1]", "Level {x} hit", "a, b", "x]", "a { b: c }", "a,b: c",
]
_KEYS = ["id", "type", "rules", "a", "b", "name", "true", "null", "on", "_", "a.b", "a-b", "e3"]


def _random_block(
    rng: random.Random, depth: int, col: int, kind: str, lines: list[str], first: str | None = None
) -> None:
    for i in range(rng.randint(1, 4)):
        prefix = first if (i == 0 and first is not None) else " " * col
        if rng.random() < 0.08:
            prefix = " " * max(0, len(prefix) + rng.choice([-2, -1, 1, 2]))  # an indentation mistake
        if rng.random() < 0.1:
            lines.append(" " * rng.randint(0, 8) + rng.choice(["", "# c", "  # c"]))
        if kind == "map":
            key = rng.choice(_KEYS)
            if depth < 3 and rng.random() < 0.35:
                lines.append(prefix + key + rng.choice([":", ": ", ": # c"]))
                sub = rng.choice(["map", "seq"])
                _random_block(rng, depth + 1, col + rng.choice([1, 2, 4] if sub == "map" else [0, 2, 4]), sub, lines)
            else:
                lines.append(prefix + key + ": " + rng.choice(_VALUES) + rng.choice(["", " # c"]))
        else:
            dash = "-" + " " * rng.choice([1, 1, 3])
            if depth < 3 and rng.random() < 0.5:
                _random_block(rng, depth + 1, len(prefix + dash), "map", lines, first=prefix + dash)
            else:
                lines.append(prefix + dash + rng.choice(_VALUES))


def test_random_block_yaml_reads_as_ruamel_or_declines() -> None:
    """Seeded texts near the edge of the line reader's subset (the real fuzzing ran far longer)."""
    rng = random.Random(2026)
    taken = 0
    for _ in range(400):
        lines: list[str] = []
        _random_block(rng, 0, 0, rng.choice(["map", "seq"]), lines)
        accepted = assert_read_as_ruamel_does("\n".join(lines) + "\n")
        taken += accepted["lines"]
    assert taken > 40  # the generator does reach the line reader


def test_positions_without_the_tree_match_the_tree() -> None:
    for file in find_rule_files(REPO / "rules.d"):
        text = file.read_text(encoding="utf-8-sig")
        fast, slow = parse_yaml(text, file.name), parse_yaml(text, file.name, fast=False)
        assert fast._tree is yaml_source._NOT_PARSED
        n = len(slow.data["rules"])
        quick = [fast.position(["rules", i]) for i in range(n)]
        assert fast._tree is yaml_source._NOT_PARSED  # item positions need no tree
        assert quick == [slow.position(["rules", i]) for i in range(n)]
        assert fast.position(["rules", 0, "id"], "key") == slow.position(["rules", 0, "id"], "key")  # (now it does)
        assert fast._tree is not yaml_source._NOT_PARSED
