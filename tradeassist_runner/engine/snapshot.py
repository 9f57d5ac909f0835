"""EngineState <-> bytes, so a restart resumes exactly where the last snapshot left off.

The state is JSON (see ``engine/state.py``): floats are written by repr and read back
bit-identical, NaN included, so a restored state gives the same alerts.
"""

from __future__ import annotations

import json
from typing import Any

from .state import EngineState

FORMAT = 2


#: Levels of nesting written piece by piece (below that, and for lists of plain values, one
#: ``json.dumps`` per value): deep enough to reach a look-back's chunks of samples.
_SPLIT_DEPTH = 6


def dump_state(state: EngineState) -> dict[str, bytes]:
    """The state as compact JSON with sorted keys.

    Written piece by piece, the same bytes as one ``json.dumps``: a single call would hold
    the GIL for the whole encoding (hundreds of milliseconds for a state with minutes of
    look-back at high tick rates), freezing the runner's other threads while a snapshot
    is encoded beside the engine.
    """
    body: dict[str, Any] = {
        "format": FORMAT, "next_seq": state.next_seq, "sources": state.sources,
        "series": state.series, "rules": state.rules,
    }
    return {"state": "".join(_pieces(body, _SPLIT_DEPTH)).encode()}


def _pieces(value: Any, depth: int) -> list[str]:
    if depth > 0 and isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        out = ["{"]
        for i, key in enumerate(sorted(value)):
            out.append(("," if i else "") + json.dumps(key) + ":")
            out += _pieces(value[key], depth - 1)
        out.append("}")
        return out
    if depth > 0 and isinstance(value, list) and value and isinstance(value[0], (list, dict)):
        out = ["["]
        for i, item in enumerate(value):
            if i:
                out.append(",")
            out += _pieces(item, depth - 1)
        out.append("]")
        return out
    return [json.dumps(value, separators=(",", ":"), sort_keys=True)]


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
