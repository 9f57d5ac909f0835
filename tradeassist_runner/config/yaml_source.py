"""One YAML file, loaded so that every value can still be traced to its line and column.

ruamel.yaml's round-trip loader records positions on every mapping and sequence; we
keep that tree next to a plain-Python copy (which is what pydantic validates) and
translate a pydantic error ``loc`` back into a 1-based ``line:column``.  Syntax errors
become a located :class:`Problem` too, so ``tradeassist validate`` can print them in
the same ``PATH:LINE:COLUMN: message`` form as every other mistake.

That loader is pure Python and slow (seconds per thousand rules), so the config loader
asks for ``fast`` parsing (:func:`parse_yaml`): :mod:`.fast_yaml` reads the same data
and the positions of top-level list items (enough for a valid file), and the round-trip
tree is only built, from the kept text, when a position is needed for a message.
Whatever the fast parse does not read exactly as ruamel would is left to ruamel.

Both paths refuse, with a located problem and before any work grows with it, what
would make a small file expensive: more than :data:`MAX_FILE_CHARS` characters,
nesting deeper than :data:`MAX_DEPTH`, and aliases that expand to more than
:data:`MAX_ALIAS_NODES` values (a 500-byte "billion laughs" file otherwise expands to
10**8 strings, and a hot reload of it would hold the runner for minutes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner
from ruamel.yaml.scalarbool import ScalarBoolean

from ..errors import ConfigError, Problem
from .fast_yaml import MAX_DEPTH, TOO_DEEP, Refused, parse_fast

#: Longest file read (in characters; about 16 MB): a 10,000-rule file is about 2 MB.
MAX_FILE_CHARS = 16 * 1024 * 1024
#: Most values that aliases (``*name``, ``<<: *name``) may add to a document, all counted.
MAX_ALIAS_NODES = 100_000
#: Most lines plus flow-list commas in one file (a 10,000-rule file has about 60,000 lines):
#: counted before parsing, so a file that would take minutes to read is refused at once.
MAX_LINES_AND_ITEMS = 500_000

#: Where a located message points: the key of a mapping entry (unknown field), the
#: value (bad value), or the mapping that contains the entry (missing field).
Anchor = Literal["key", "value", "node"]

LocPath = Sequence[str | int]


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps timestamps as text and refuses unknown tags.

    No field of ours is a date, so ``name: 2026-01-05`` should stay the text the user
    wrote rather than become a ``date`` that fails as "not a string".  Unknown tags
    (``!foo``, ``!!python/object``) would otherwise be silently wrapped; a config must
    mean exactly what it says, so they are errors.
    """


def _timestamp_as_text(constructor: RoundTripConstructor, node: ScalarNode) -> str:
    return str(node.value)


def _unknown_tag(constructor: RoundTripConstructor, node: Node) -> Any:
    raise ConstructorError(
        None, None, f"unsupported YAML tag {str(getattr(node.tag, 'value', node.tag))!r}", node.start_mark
    )


class _Refused(MarkedYAMLError):
    """Well-formed YAML refused for what it would cost (its message is shown as it is)."""


def _int_or_refuse(constructor: RoundTripConstructor, node: ScalarNode) -> Any:
    """ruamel's integer, or a located error for one Python will not convert (over 4,300 digits)."""
    try:
        return RoundTripConstructor.construct_yaml_int(constructor, node)
    except ValueError:
        raise _Refused(
            None, None, f"number too long ({len(str(node.value))} characters): the engine holds float64 numbers",
            node.start_mark,
        ) from None


# Registered on the subclass only: add_constructor copies the table per class, so the
# shared RoundTripConstructor other code may use is left untouched.
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
_Constructor.add_constructor("tag:yaml.org,2002:int", _int_or_refuse)
_Constructor.add_constructor(None, _unknown_tag)


class _BoundedComposer(Composer):
    """ruamel's composer, refusing deep nesting and alias expansion beyond the limits.

    An alias is composed as the very node of its anchor, so the document stays small
    while what it means (the plain data pydantic validates) multiplies.  Each alias adds
    the size of its anchor's value, expanded, to a running count; the count is refused
    past :data:`MAX_ALIAS_NODES`, at the alias that crossed it.  An alias to a
    collection still open (``a: &a [*a]``) would be an infinite value, refused as well.
    Depth is counted here too, because the composer (and :func:`to_plain` after it)
    recurse once per level.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # YAML allows it (the alias takes the latest); no Python warning
        self._sizes: dict[int, int] = {}  # id(node) -> values it holds, expanded
        self._expanded = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.parser.check_event(AliasEvent):
            if self.depth >= MAX_DEPTH:
                raise _Refused(None, None, TOO_DEEP, self.parser.peek_event().start_mark)
            return super().compose_node(parent, index)
        mark = self.parser.peek_event().start_mark
        node = super().compose_node(parent, index)
        if not isinstance(node, ScalarNode) and node.end_mark is None:
            raise _Refused(None, None, "an alias inside its own anchor (an infinitely deep value)", mark)
        self._expanded += self._size(node)
        if self._expanded > MAX_ALIAS_NODES:
            raise _Refused(
                None, None,
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values (refused: an alias may repeat a "
                "value, not multiply the document)",
                mark,
            )
        return node

    def _size(self, node: Node) -> int:
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = size
        return size


#: Flow collections (``[``, ``{``) open at once that ruamel's scanner reads before refusing.
#: Its look-ahead for a simple key costs the square of the open levels per token: 5,000
#: ``[`` take seconds before the composer ever sees the 65th level.  (Well below that,
#: the composer refuses at level 65, at the same place as libyaml does.)
_MAX_FLOW_LEVELS = 2 * MAX_DEPTH


class _BoundedScanner(RoundTripScanner):
    """ruamel's round-trip scanner, refusing flow nesting before its look-ahead gets slow."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= _MAX_FLOW_LEVELS:
            raise _Refused(None, None, TOO_DEEP, self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


def _new_yaml() -> YAML:
    yaml = YAML(typ="rt")  # YAML 1.2: `on`/`off`/`yes`/`no` stay strings
    yaml.Constructor = _Constructor
    yaml.Composer = _BoundedComposer
    yaml.Scanner = _BoundedScanner
    yaml.allow_duplicate_keys = False
    return yaml


def to_plain(value: Any) -> Any:
    """ruamel's tree as plain dict/list/str/int/float/bool, the types pydantic expects.

    ruamel scalars subclass the builtins but carry formatting; ``ScalarBoolean`` is an
    ``int`` subclass, so it must be turned into a real ``bool`` before an ``int`` check
    could swallow it.
    """
    if isinstance(value, dict):
        return {to_plain(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, (bool, ScalarBoolean)):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


class FastPathDiverged(Exception):
    """libyaml read a file that ruamel refuses: the caller must redo the load the slow way.

    Raised only when a position is asked of a document parsed by :mod:`.fast_yaml` and
    the round-trip parse it then needs fails (see :meth:`YamlDocument.tree`).
    """


_NOT_PARSED: Any = object()


class YamlDocument:
    """A parsed file: ``data`` for validation, ``tree`` for positions.

    ``tree`` is ruamel's round-trip tree.  A document read by the fast path
    (:func:`parse_yaml`) has none until a position is asked for: valid files never need
    one, so it is parsed from the kept ``text`` on first use.  The positions of the
    items of its top-level lists (a rule's ``source``) come with the fast parse.
    """

    __slots__ = ("path", "data", "_tree", "_text", "_items")

    def __init__(
        self,
        path: str,
        data: Any,
        tree: Any = _NOT_PARSED,
        *,
        text: str | None = None,
        items: dict[str, list[tuple[int, int]]] | None = None,
    ) -> None:
        if tree is _NOT_PARSED and text is None:
            raise TypeError("YamlDocument needs the round-trip tree or the text to parse it from")
        self.path = path  # as shown to the user
        self.data = data
        self._tree = tree
        self._text = text
        self._items = items or {}

    def __repr__(self) -> str:
        return f"YamlDocument(path={self.path!r})"

    @property
    def tree(self) -> Any:
        tree = self._tree
        if tree is _NOT_PARSED:  # (two threads may both parse: same tree, either one kept)
            assert self._text is not None
            try:
                tree = self._tree = _parse_round_trip(self._text, self.path)
            except ConfigError as exc:
                raise FastPathDiverged(f"{self.path}: the fast parse read a file ruamel refuses: {exc}") from None
        return tree

    def problem(self, loc: LocPath, message: str, at: Anchor = "value") -> Problem:
        line, column = self.position(loc, at)
        return Problem(self.path, line, column, message)

    def position(self, loc: LocPath, at: Anchor = "value") -> tuple[int, int]:
        """1-based ``(line, column)`` of what ``loc`` names, or the nearest thing that exists.

        Tags of discriminated unions (``('rules', 0, 'threshold', 'window')``) are
        skipped: they name the model pydantic tried, not a key in the file.  A path
        that leaves the file (a missing key, a key merged in with ``<<``) falls back to
        the deepest mapping or sequence that does exist, which is where the user has
        to make the change.
        """
        if self._tree is _NOT_PARSED and at == "value" and len(loc) == 2:
            key, i = loc
            items = self._items.get(key) if isinstance(key, str) else None
            # (a top-level ``type: rules`` would make 'rules' read as a union tag: not here)
            if items is not None and isinstance(i, int) and 0 <= i < len(items) and self.data.get("type") != key:
                return items[i]
        steps = self._walk_all(loc)
        found = [(parent, key) for parent, key in steps if parent is not None]
        complete = len(found) == len(steps)
        if at == "node" and complete:
            found = found[:-1]  # the container of the named entry
        if not found:
            return _start(self.tree)
        parent, key = found[-1]
        if at == "key" and complete and isinstance(parent, CommentedMap):
            data = parent.lc.data.get(key)
            if data is not None:
                return data[0] + 1, data[1] + 1
        return _value_position(parent, key)

    def _walk_all(self, loc: LocPath) -> list[tuple[Any, str | int]]:
        """(container, key) per step; a trailing ``(None, part)`` marks where the walk left the file."""
        node = self.tree
        steps: list[tuple[Any, str | int]] = []
        parts = list(loc)
        for i, part in enumerate(parts):
            if isinstance(node, CommentedMap):
                more = i < len(parts) - 1
                if more and isinstance(node.get("type"), str) and part == node.get("type"):
                    continue  # discriminator tag, not a key
                if part in node:
                    steps.append((node, part))
                    node = node[part]
                    continue
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                steps.append((node, part))
                node = node[part]
                continue
            steps.append((None, part))
            break
        return steps


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line + 1, lc.col + 1
    return 1, 1


def _value_position(parent: Any, key: str | int) -> tuple[int, int]:
    data = parent.lc.data.get(key) if isinstance(parent, CommentedMap) else None
    if isinstance(parent, CommentedMap) and data is not None:
        return data[2] + 1, data[3] + 1
    if isinstance(parent, CommentedSeq) and isinstance(key, int) and key in parent.lc.data:
        line, col = parent.lc.data[key][:2]
        return line + 1, col + 1
    return _start(parent)


_DUPLICATE = re.compile(r'found duplicate key "(.*)" with value')


def _syntax_message(error: MarkedYAMLError) -> str:
    problem = str(error.problem or "invalid YAML").strip()
    dup = _DUPLICATE.match(problem)
    if dup:
        return f"duplicate key '{dup.group(1)}' (each key may appear only once in a mapping)"
    if problem.startswith("unsupported YAML tag") or isinstance(error, _Refused):
        return problem
    message = f"YAML syntax error: {problem}"
    context, mark = error.context, error.context_mark
    if context and mark is not None and mark is not error.problem_mark:
        message += f" ({context} started at line {mark.line + 1}, column {mark.column + 1})"
    elif context:
        message += f" ({context})"
    return message


def _line_col_of_offset(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def read_source(path: Path, shown: str) -> bytes:
    """The file's bytes; raise :class:`ConfigError` with one located problem if it cannot be read."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(4 * MAX_FILE_CHARS + 1)  # (UTF-8: at most 4 bytes a character)
    except FileNotFoundError:
        raise ConfigError([Problem(shown, 1, 1, "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(shown, 1, 1, "is a directory, not a YAML file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > 4 * MAX_FILE_CHARS:
        raise ConfigError([_too_large(shown)])
    return raw


def _too_many_values(text: str, shown: str) -> Problem:
    """Refused at the line and comma past the limit, which is where the file must be split."""
    lo, hi = 0, len(text)  # the shortest prefix holding one separator too many
    while lo < hi:
        mid = (lo + hi) // 2
        if text.count("\n", 0, mid + 1) + text.count(",", 0, mid + 1) > MAX_LINES_AND_ITEMS:
            hi = mid
        else:
            lo = mid + 1
    line, column = _line_col_of_offset(text, lo)
    return Problem(
        shown, line, column,
        f"file too large: more than {MAX_LINES_AND_ITEMS:,} lines and list items (split it into several files)",
    )


def _too_large(shown: str) -> Problem:
    return Problem(shown, 1, 1, f"file is larger than {MAX_FILE_CHARS // (1024 * 1024)} MiB: not read")


def decode_source(raw: bytes, shown: str) -> str:
    """UTF-8 text (a leading BOM dropped); raise :class:`ConfigError` at the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start].decode("utf-8", "replace")
        line, column = _line_col_of_offset(before, len(before))
        raise ConfigError([Problem(shown, line, column, "file is not UTF-8 text")]) from None


def _parse_round_trip(text: str, shown: str) -> Any:
    try:
        return _new_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise ConfigError([Problem(shown, line, column, _syntax_message(exc))]) from None
    except ReaderError as exc:
        line, column = _line_col_of_offset(text, exc.position)
        raise ConfigError(
            [Problem(shown, line, column, f"YAML syntax error: character {exc.character!r} is not allowed")]
        ) from None
    except YAMLError as exc:
        raise ConfigError([Problem(shown, 1, 1, f"YAML syntax error: {exc}")]) from None
    except (RecursionError, MemoryError) as exc:  # the limits above should make these unreachable
        raise ConfigError([Problem(shown, 1, 1, f"file too complex to read ({type(exc).__name__})")]) from None


def parse_yaml(text: str, shown: str, fast: bool = True) -> YamlDocument:
    """Parse one file's text; raise :class:`ConfigError` with one located problem if it cannot be.

    ``fast`` reads it with :func:`.fast_yaml.parse_fast` when that can (same data; the
    round-trip tree is built only if a position other than a top-level list item is
    asked for), else with ruamel's round-trip loader, as ``fast=False`` always does.
    """
    if len(text) > MAX_FILE_CHARS:
        raise ConfigError([_too_large(shown)])
    if text.count("\n") + text.count(",") > MAX_LINES_AND_ITEMS:
        raise ConfigError([_too_many_values(text, shown)])
    if fast:
        try:
            parsed = parse_fast(text)
        except Refused as exc:
            raise ConfigError([Problem(shown, exc.line, exc.column, exc.message)]) from None
        if parsed is not None:
            return YamlDocument(shown, parsed.data, text=text, items=parsed.items)
    tree = _parse_round_trip(text, shown)
    return YamlDocument(path=shown, data=to_plain(tree), tree=tree)


def load_yaml(path: Path, display: str | None = None, *, fast: bool = False) -> YamlDocument:
    """Read and parse one file; raise :class:`ConfigError` with one located problem if it cannot be.

    ``display`` is the path as the user should see it in messages (relative paths stay
    relative so CI output can be clicked in an editor).  ``fast``: see :func:`parse_yaml`.
    """
    shown = display if display is not None else str(path)
    return parse_yaml(decode_source(read_source(path, shown), shown), shown, fast)
