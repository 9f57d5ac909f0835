"""EngineState <-> bytes, so a restart resumes exactly where the last snapshot left off.

The state is JSON (see ``engine/state.py``): floats are written by repr and read back
bit-identical, NaN included, so a restored state gives the same alerts.
"""

from __future__ import annotations

import json
from typing import Any

from .state import EngineState

FORMAT = 2


def dump_state(state: EngineState) -> dict[str, bytes]:
    body: dict[str, Any] = {
        "format": FORMAT, "next_seq": state.next_seq, "sources": state.sources,
        "series": state.series, "rules": state.rules,
    }
    return {"state": json.dumps(body, separators=(",", ":"), sort_keys=True).encode()}


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
