"""EngineState <-> bytes, so a restart resumes exactly where the last snapshot left off.

The state is JSON (see ``engine/state.py``): floats are written by repr and read back
bit-identical, NaN included, so a restored state gives the same alerts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .state import EngineState

FORMAT = 2


#: Levels of nesting written piece by piece (below that, and for lists of plain values, one
#: ``json.dumps`` per value): deep enough to reach a look-back's chunks of samples.
_SPLIT_DEPTH = 6


def dump_state(state: EngineState) -> dict[str, bytes]:
    """The state as compact JSON with sorted keys (the bytes of one ``json.dumps``)."""
    return {"state": "".join(state_json_pieces(state)).encode()}


def state_json_pieces(state: EngineState) -> Iterator[str]:
    """:func:`dump_state`'s text in small pieces, so a caller can encode a big state a little
    at a time (a few milliseconds between batches) instead of in one call that takes
    hundreds of milliseconds for minutes of look-back at high tick rates."""
    body: dict[str, Any] = {
        "format": FORMAT, "next_seq": state.next_seq, "sources": state.sources,
        "series": state.series, "rules": state.rules,
    }
    return _pieces(body, _SPLIT_DEPTH)


def _pieces(value: Any, depth: int) -> Iterator[str]:
    if depth > 0 and isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        yield "{"
        for i, key in enumerate(sorted(value)):
            yield ("," if i else "") + json.dumps(key) + ":"
            yield from _pieces(value[key], depth - 1)
        yield "}"
    elif depth > 0 and isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, dict)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _pieces(item, depth - 1)
        yield "]"
    else:
        yield json.dumps(value, separators=(",", ":"), sort_keys=True)


class SnapshotFormatError(ValueError):
    """The snapshot is not one this runner wrote (older format, or damaged)."""


def load_state(parts: dict[str, bytes]) -> EngineState:
    if "state" not in parts:
        raise SnapshotFormatError("the snapshot was written by an older runner (no 'state' part)")
    try:
        body = json.loads(parts["state"])
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotFormatError(f"the snapshot's state is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise SnapshotFormatError("the snapshot's state has an unknown format")
    try:
        return EngineState(
            next_seq=int(body["next_seq"]), sources=dict(body["sources"]),
            series=dict(body["series"]), rules=dict(body["rules"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotFormatError(f"the snapshot's state is incomplete: {exc}") from None
