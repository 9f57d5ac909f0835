"""Run the real command line in a subprocess, as a user or a CI pipeline does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tradeassist(*args: str | Path, cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEASSIST_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tradeassist_runner", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        env=full_env,
    )
