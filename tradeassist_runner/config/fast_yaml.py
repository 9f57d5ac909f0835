"""A fast parse of the plain YAML config files are, with exactly ruamel's YAML 1.2 meaning.

ruamel.yaml's round-trip loader (:mod:`.yaml_source`) is pure Python and keeps a line and
column for every value, which costs more than a second per thousand rules.  Valid files
need neither: they need the data (what pydantic validates) and the position of each item
of the top-level lists (a rule's ``source``).  :func:`parse_fast` gets both in two stages:

1. a line reader (:func:`_compose_lines`) for block YAML written one ``key: value`` per
   line - what rules files are - a regular expression per line;
2. libyaml's event stream (PyYAML's C extension, which apprise already brings in) for
   everything else it can read exactly: flow collections, multi-line scalars, ...

Both decide what a plain scalar means with ruamel's own YAML 1.2 resolver table, so the
data equals ``to_plain(round-trip tree)`` value for value and type for type, and the
positions are those ruamel records.

It is a fast path, never a second opinion: anything outside the subset a stage handles
is *declined* (to the next stage; ``parse_fast`` returns None after the last), and the
caller then uses the round-trip loader, which gives today's results and today's error
messages.  Declined: any parse error, directives (``%YAML``), tags (``!!str``, ``!foo``,
the bare ``!``), anchors and aliases, merge keys, block scalars, non-scalar or duplicate
keys, more than one document, tabs, the NEL/LS/PS line breaks, a BOM inside the text and
every character ruamel's reader refuses, and plain scalars whose meaning takes more than
``int()``/``float()`` (``0x1F``, ``1_000``, ``=``, ``.nan``).  ``tests/config/
test_fast_path.py`` holds each stage to ruamel's reading; much longer random runs found
no text read differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.resolver import VersionedResolver

try:  # PyYAML's libyaml binding; without it every file takes the round-trip path
    from yaml import events as _ev
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CParser = None  # type: ignore[assignment,misc]

AVAILABLE = _CParser is not None

#: Every character but those ruamel's reader refuses (its ``NON_PRINTABLE``) and those
#: whose handling differs between libyaml (YAML 1.1) and ruamel (1.2) - tab, NEL, LS, PS,
#: BOM: a file containing one of them is left to the round-trip loader.
_SAFE_ASCII = b"\n\r" + bytes(range(0x20, 0x7F))
#: The same for any text: compiled on the first file that is not ASCII (``re`` keeps it), not
#: at import: its character ranges take milliseconds to compile, on every command's start.
_UNSAFE_CHAR = "[^\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"


def _unsafe(text: str) -> bool:
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _SAFE_ASCII))
    return re.search(_UNSAFE_CHAR, text) is not None

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"  # our round-trip constructor keeps these as text

#: The spellings whose value ``int()``/``float()`` compute exactly as ruamel does.
_PLAIN_INT = re.compile(r"[-+]?[0-9]+\Z")
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")  # (once ruamel says float)
_INF = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf")}


class _Decline(Exception):
    """The text is outside the subset this module guarantees to read as ruamel does."""


class Refused(Exception):
    """The text is refused, at ``line``:``column`` (1-based), exactly as ruamel's loader refuses it.

    Only nesting: ruamel's scanner needs seconds to reach the 65th level of ``[[[[...``,
    libyaml microseconds, and the place and the words are the same.
    """

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line, self.column, self.message = line, column, message


_NO_KEY = object()  # a mapping waiting for its next key (keys may be None)
#: Deeper nesting is declined here, and refused (located) by the round-trip loader.
MAX_DEPTH = 64
_MAX_DEPTH = MAX_DEPTH
#: What both parsers say of a value with ``MAX_DEPTH`` collections around it.
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
#: Python will not turn a longer digit string into an int; ruamel's loader reports it, located.
_MAX_INT_DIGITS = 4300


@dataclass(frozen=True, slots=True)
class FastDocument:
    """``data`` as ``to_plain`` of the round-trip tree would give it, plus item positions.

    ``items[key]`` lists the 1-based ``(line, column)`` of every item of the top-level
    list ``key`` (what ``YamlDocument.position([key, i])`` returns).
    """

    data: Any
    items: dict[str, list[tuple[int, int]]]


Table = dict[Any, list[tuple[str, Any]]]


def _resolver_table() -> Table:
    """ruamel's YAML 1.2 implicit resolvers by first character (``""``: the empty scalar).

    Taken from a fresh ``VersionedResolver`` each time, so it is the table ruamel's own
    loader would use; each entry is ``(tag, match)``, the resolvers that apply to any
    first character (key None) appended, as ``VersionedResolver.resolve`` does.
    """
    table = VersionedResolver(version=(1, 2)).versioned_resolver
    anywhere = [(tag, regexp.match) for tag, regexp in table.get(None, [])]
    out: Table = {
        first: [(tag, regexp.match) for tag, regexp in entries] + anywhere for first, entries in table.items()
    }
    out[None] = anywhere
    return out


def _plain(value: str, table: Table) -> Any:
    """What a plain (unquoted, untagged) scalar means to ruamel's round-trip loader."""
    tag = _STR
    entries = table.get(value[:1] if value else "")
    for candidate, match in table[None] if entries is None else entries:
        if match(value):
            tag = candidate
            break
    if tag in (_STR, _TIMESTAMP):
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _INT and _PLAIN_INT.match(value) and len(value) <= _MAX_INT_DIGITS:
        return int(value)
    if tag == _FLOAT:
        if _PLAIN_FLOAT.match(value):
            return float(value)
        sign = -1.0 if value[:1] == "-" else 1.0
        unsigned = value[1:] if value[:1] in "+-" else value
        if unsigned in _INF:
            return sign * _INF[unsigned]
    raise _Decline(value)  # merge keys, '=', hex/octal/binary, underscores, .nan


def parse_fast(text: str) -> FastDocument | None:
    """The document's data and top-level item positions, or None to use the round-trip loader."""
    if _unsafe(text):
        return None
    if "\r" not in text:
        try:
            return _compose_lines(text)
        except Exception:  # _Decline, or a bug: stage 2 or ruamel will read it
            pass
    if _CParser is None:
        return None
    try:
        return _compose(text)
    except Refused:
        raise
    except (_Decline, RecursionError):
        return None
    except Exception:  # any libyaml error: the round-trip loader reports it in its words
        return None


# --- stage 1: one line at a time --------------------------------------------------------
#
# Block mappings and sequences whose every line is ``key: value``, ``- value``,
# ``- key: value``, ``key:`` (the value follows, indented), a comment or blank, with
# values that fit on their line: a plain scalar of a conservative alphabet, a quoted
# string without escapes, ``[]`` or ``{}``.  That is what rules files are, and reading
# them needs a regular expression per line instead of a dozen libyaml events.  Any
# other line (flow collections, multi-line or block scalars, anchors, tags, an
# indentation that is not exactly one of the open blocks', ...) declines the file to
# stage 2, libyaml, which reads all of YAML.

_LINE = re.compile(r"( *)(?:-( +))?(?:([A-Za-z_][A-Za-z0-9_.-]{0,200}):(?= |$) *)?(.*)")
#: A plain scalar alone on its line (trailing spaces and comment removed): no indicator
#: first ('-' only before a digit or '.'), no ':' or '#' anywhere, no controls.  (After
#: the first character ',[]{}' are text in a block, as in ``message: {symbol} is up``.)
_PLAIN_LINE = re.compile(r"(?:[^\x00-\x20\-?:,\[\]{}#&*!|>'\"%@`\x7f]|-(?=[0-9.]))[^\x00-\x1f\x7f:#]*")
_SINGLE = re.compile(r"'((?:[^']|'')*)'(?: +#.*| *)")
_DOUBLE = re.compile(r'"([^"\\]*)"(?: +#.*| *)')
_EMPTY_FLOW = re.compile(r"(\[\]|\{\})(?: +#.*| *)")
_NOTHING: Any = object()  # ``key:`` / ``- `` with the value on the next lines (or none)


def _line_value(rest: str, table: Table) -> Any:
    """The value written after ``key:`` or ``-`` on one line (``rest``: from its first non-space)."""
    if not rest or rest[0] == "#":
        return _NOTHING
    first = rest[0]
    if first == "'":
        m = _SINGLE.fullmatch(rest)
        if m is None:
            raise _Decline("single-quoted")
        return m.group(1).replace("''", "'")
    if first == '"':
        m = _DOUBLE.fullmatch(rest)
        if m is None:
            raise _Decline("double-quoted")
        return m.group(1)
    if first == "[" or first == "{":
        if _EMPTY_FLOW.fullmatch(rest) is None:
            raise _Decline("flow collection")
        return _NEW_LIST if first == "[" else _NEW_DICT
    plain = rest.split(" #", 1)[0].rstrip(" ")
    if _PLAIN_LINE.fullmatch(plain) is None:
        raise _Decline("plain scalar")
    return _plain(plain, table)


_NEW_LIST: Any = object()  # ``[]``: a new list each time (values are cached by their text)
_NEW_DICT: Any = object()


class _Block:
    """An open block mapping or sequence: its column, and the key waiting for a value."""

    __slots__ = ("col", "value", "is_map", "pending", "marks")

    def __init__(self, col: int, value: Any, marks: list[tuple[int, int]] | None = None) -> None:
        self.col = col
        self.value = value
        self.is_map = type(value) is dict
        self.pending: Any = _NO_KEY
        self.marks = marks


class _Lines:
    """The open blocks of a stage-1 parse, and the moves between them (the uncommon lines)."""

    def __init__(self) -> None:
        self.open: list[_Block] = []
        self.root: Any = None
        self.items: dict[str, list[tuple[int, int]]] = {}

    def close_to(self, col: int) -> None:
        """Close every block deeper than ``col`` (a pending key there had no value: null)."""
        open_ = self.open
        while open_ and open_[-1].col > col:
            block = open_.pop()
            if block.pending is not _NO_KEY:
                block.value[block.pending] = None
                block.pending = _NO_KEY

    def child(self, col: int, value: Any) -> _Block:
        """A new block at ``col``, the value of the innermost block's pending key."""
        parent = self.open[-1]
        key = parent.pending
        parent.value[key] = value
        parent.pending = _NO_KEY
        marks = None
        if len(self.open) == 1 and type(value) is list and type(key) is str:
            marks = self.items[key] = []
        block = _Block(col, value, marks)
        self.open.append(block)
        if len(self.open) >= _MAX_DEPTH:  # (its values would be one level deeper)
            raise _Decline("depth")
        return block

    def new_root(self, col: int, value: Any) -> _Block:
        if col != 0 or self.root is not None:
            raise _Decline("root")
        self.root = value
        block = _Block(0, value)
        self.open.append(block)
        return block

    def mapping_at(self, col: int) -> _Block:
        """The mapping a ``key:`` line at ``col`` belongs to."""
        open_ = self.open
        if not open_:
            return self.new_root(col, {})
        top = open_[-1]
        if top.pending is not _NO_KEY and col > top.col:
            return self.child(col, {})
        self.close_to(col)
        if open_ and open_[-1].col == col and not open_[-1].is_map:
            open_.pop()  # the end of an indentless list: back to its mapping
        if not open_ or open_[-1].col != col or not open_[-1].is_map:
            raise _Decline("indentation")
        top = open_[-1]
        if top.pending is not _NO_KEY:
            top.value[top.pending] = None
            top.pending = _NO_KEY
        return top

    def sequence_at(self, col: int) -> _Block:
        """The sequence a ``- `` line at ``col`` belongs to."""
        open_ = self.open
        if not open_:
            return self.new_root(col, [])
        top = open_[-1]
        if top.pending is not _NO_KEY and col >= top.col:
            return self.child(col, [])  # deeper, or at the key's own column (an indentless list)
        self.close_to(col)
        if not open_ or open_[-1].col != col or open_[-1].is_map:
            raise _Decline("indentation")
        return open_[-1]


def _compose_lines(text: str) -> FastDocument:
    table = _resolver_table()
    keys: dict[str, str] = {}  # key text -> key
    values: dict[str, Any] = {}  # text after 'key:' / '- ' -> value
    state = _Lines()
    open_ = state.open
    match = _LINE.match
    top: _Block | None = None
    for lineno, line in enumerate(text.split("\n"), 1):
        indent, dash_spaces, key_text, rest = match(line).groups()  # type: ignore[union-attr]  # (every part optional: always matches)
        if dash_spaces is None:
            if key_text is None:
                if rest and rest[0] != "#":
                    raise _Decline("line")
                continue  # blank or comment
            col = len(indent)
            if top is None or top.col != col or top.pending is not _NO_KEY or not top.is_map:
                top = state.mapping_at(col)
            mapping = top.value
        else:
            col = len(indent)
            seq = state.sequence_at(col)
            item_col = col + 1 + len(dash_spaces)
            if seq.marks is not None:
                seq.marks.append((lineno, item_col + 1))
            if key_text is None:
                value = values.get(rest, _NO_KEY)
                if value is _NO_KEY:
                    value = values[rest] = _line_value(rest, table)
                if value is _NOTHING:
                    raise _Decline("empty item")
                seq.value.append([] if value is _NEW_LIST else {} if value is _NEW_DICT else value)
                top = seq
                continue
            mapping = {}
            seq.value.append(mapping)
            top = _Block(item_col, mapping)
            open_.append(top)
        key = keys.get(key_text)
        if key is None:
            key = _plain(key_text, table)
            if type(key) is not str:
                raise _Decline("key")
            keys[key_text] = key
        if key in mapping:
            raise _Decline("duplicate key")
        value = values.get(rest, _NO_KEY)
        if value is _NO_KEY:
            value = values[rest] = _line_value(rest, table)
        if value is _NOTHING:
            top.pending = key
        else:
            mapping[key] = [] if value is _NEW_LIST else {} if value is _NEW_DICT else value
    state.close_to(-1)
    return FastDocument(state.root, state.items)


# --- stage 2: libyaml events ------------------------------------------------------------


def _compose(text: str) -> FastDocument:
    table = _resolver_table()
    seen: dict[str, Any] = {}  # plain scalar -> meaning, within this file
    items: dict[str, list[tuple[int, int]]] = {}
    parser = _CParser(text)
    # Any: the loop below tells events apart by exact type (``kind is ScalarEvent``), a
    # check mypy does not narrow on, and reads each kind's own attributes.
    get: Callable[[], Any] = parser.get_event
    ScalarEvent, MappingStartEvent, SequenceStartEvent = _ev.ScalarEvent, _ev.MappingStartEvent, _ev.SequenceStartEvent
    MappingEndEvent, SequenceEndEvent = _ev.MappingEndEvent, _ev.SequenceEndEvent

    event = get()
    if type(event) is not _ev.StreamStartEvent:
        raise _Decline("stream")
    event = get()
    if type(event) is _ev.StreamEndEvent:
        return FastDocument(None, items)
    if type(event) is not _ev.DocumentStartEvent or event.version is not None or event.tags:
        raise _Decline("directive")

    # The container being filled, its pending key (mappings), and where to record the
    # positions of its items (top-level lists only); parents wait on the stack.
    stack: list[tuple[Any, Any, list[tuple[int, int]] | None]] = []
    cur: Any = None
    key: Any = _NO_KEY
    marks: list[tuple[int, int]] | None = None
    root: Any = None
    done = False
    while not done:
        event = get()
        kind = type(event)
        if (kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent) and len(
            stack
        ) >= _MAX_DEPTH:  # one entry per open collection: this value is one level deeper
            m = event.start_mark
            raise Refused(m.line + 1, m.column + 1, TOO_DEEP)
        if kind is ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _Decline("anchor or tag")
            style = event.style
            if style == "'" or style == '"':  # quoted: a string
                value = event.value
            elif style:  # block scalars: ruamel refuses some headers libyaml takes ('|#')
                raise _Decline("block scalar")
            else:
                text_value = event.value
                value = seen.get(text_value, _NO_KEY)
                if value is _NO_KEY:
                    value = seen[text_value] = _plain(text_value, table)
            if marks is not None:
                m = event.start_mark
                marks.append((m.line + 1, m.column + 1))
            if type(cur) is list:
                cur.append(value)
            elif cur is None:
                root, done = value, True
            elif key is _NO_KEY:
                if value in cur:
                    raise _Decline("duplicate key")
                key = value
            else:
                cur[key] = value
                key = _NO_KEY
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _Decline("anchor or tag")
            if marks is not None:
                m = event.start_mark
                marks.append((m.line + 1, m.column + 1))
            if type(cur) is dict and key is _NO_KEY:
                raise _Decline("complex key")
            child_marks = None
            if kind is SequenceStartEvent and len(stack) == 1 and type(cur) is dict and type(key) is str:
                child_marks = items[key] = []
            stack.append((cur, key, marks))
            cur, key, marks = ({} if kind is MappingStartEvent else []), _NO_KEY, child_marks
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            finished = cur
            cur, key, marks = stack.pop()
            if type(cur) is list:
                cur.append(finished)
            elif cur is None:
                root, done = finished, True
            else:
                cur[key] = finished
                key = _NO_KEY
        else:  # aliases (and anything unexpected)
            raise _Decline(type(event).__name__)

    if type(get()) is not _ev.DocumentEndEvent or type(get()) is not _ev.StreamEndEvent:
        raise _Decline("more than one document")
    return FastDocument(root, items)
