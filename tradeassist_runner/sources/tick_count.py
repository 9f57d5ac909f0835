"""How many rows a tick file holds, for a progress bar's "time left": cheap, and
allowed to be an estimate.

Parquet says it in its footer.  A CSV would have to be read to the end to count its
lines, so its size is divided by the mean length of the lines in its first megabyte.
"""

from __future__ import annotations

from pathlib import Path

from .replay import CSV_SUFFIXES, PARQUET_SUFFIXES

_SAMPLE = 1 << 20


def estimate_rows(path: Path) -> int | None:
    """Data rows of the CSV or Parquet file (or folder of Parquet files); None when unknown."""
    try:
        if path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES:
            import polars as pl

            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in PARQUET_SUFFIXES) if path.is_dir() else [path]
            return int(pl.scan_parquet(files).select(pl.len()).collect().item()) if files else None
        if path.suffix.lower() in CSV_SUFFIXES:
            size = path.stat().st_size
            with path.open("rb") as f:
                head = f.read(_SAMPLE)
            lines = head.count(b"\n")
            if lines <= 1:
                return max(lines - 1, 0) if len(head) == size else None
            if len(head) == size:
                return lines - 1 + (0 if head.endswith(b"\n") else 1)
            return max(int(size / (len(head) / lines)) - 1, 1)
    except Exception:  # noqa: BLE001 - an estimate: the read itself reports what is wrong with the file
        return None
    return None
