"""TradeAssist runner: YAML alert rules compiled to a polars engine over market ticks."""

from __future__ import annotations

__version__ = "0.1.0"
