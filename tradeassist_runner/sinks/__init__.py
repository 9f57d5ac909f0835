"""Where fired alerts are kept: SQLite (the source of truth) and Parquet (for analysis)."""

from __future__ import annotations
