"""EngineState <-> bytes, so a restart resumes exactly where the last snapshot left off.

Frames are stored as Arrow IPC: exact floats and integers, no text round-trip, so a
restored state gives bit-identical values (and therefore identical alerts).
"""

from __future__ import annotations

import io
import json

import polars as pl

from .state import EngineState


def _frame_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_ipc(buf)
    return buf.getvalue()


def _frame(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


def dump_state(state: EngineState) -> dict[str, bytes]:
    parts = {
        "meta": json.dumps({"next_seq": state.next_seq, "history": sorted(state.history)}).encode(),
        "last_value": _frame_bytes(state.last_value),
        "last_fire": _frame_bytes(state.last_fire),
    }
    for name, df in state.history.items():
        parts[f"history:{name}"] = _frame_bytes(df)
    return parts


def load_state(parts: dict[str, bytes]) -> EngineState:
    meta = json.loads(parts["meta"])
    return EngineState(
        next_seq=int(meta["next_seq"]),
        last_value=_frame(parts["last_value"]),
        history={name: _frame(parts[f"history:{name}"]) for name in meta["history"]},
        last_fire=_frame(parts["last_fire"]),
    )
