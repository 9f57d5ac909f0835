"""Tick frames <-> Arrow IPC bytes, the payload of one stream entry.

Arrow IPC keeps every column's exact type (millisecond UTC timestamps, nullable
int64 volumes, float64 bit for bit), so a runner evaluates exactly the frame the
ingest read, and decoding is a memory copy rather than a parse.
"""

from __future__ import annotations

import io

import polars as pl

from ..sources.ticks import ROW, TICK_SCHEMA

__all__ = ["CodecError", "decode_ticks", "encode_ticks"]


class CodecError(ValueError):
    """An entry whose payload is not a tick frame this version writes."""


def encode_ticks(ticks: pl.DataFrame) -> bytes:
    """The canonical tick columns present in ``ticks`` plus ``row`` (the ingest's tick number)."""
    keep = [c for c in (*TICK_SCHEMA, ROW) if c in ticks.columns]
    buf = io.BytesIO()
    ticks.select(keep).write_ipc(buf, compression="uncompressed")
    return buf.getvalue()


def decode_ticks(payload: bytes) -> pl.DataFrame:
    try:
        frame = pl.read_ipc(io.BytesIO(payload))
    except Exception as exc:  # noqa: BLE001 - whatever arrow says about foreign bytes
        raise CodecError(f"not an Arrow IPC tick frame ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("ts", "symbol", "price", ROW) if c not in frame.columns]
    if missing:
        raise CodecError(f"tick frame lacks column(s) {', '.join(missing)}")
    return frame
