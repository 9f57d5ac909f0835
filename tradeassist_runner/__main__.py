"""``python -m tradeassist_runner`` = ``tradeassist``."""

from __future__ import annotations

from .entry import main

main()
