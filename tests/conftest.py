"""Hypothesis profiles (reproducible in CI, deeper on a developer's machine), and how many
pytest-xdist workers ``-n auto`` starts.

``ci`` (chosen when ``CI=true``) is derandomized with a fixed example budget and no example
database, so two CI runs of one commit try the same inputs and a red run can be replayed
from its printed blob. ``dev`` (the default elsewhere) draws fresh random inputs with more
examples per test. ``HYPOTHESIS_PROFILE`` overrides either. Tests that set their own
``max_examples`` (the costly end-to-end properties) keep that budget under both profiles.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Timing depends on the machine's load (CI shares 2 cores): never fail on a slow example.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}

# Parent "default", not the settings in force: hypothesis itself loads its own "ci" profile
# whenever a CI variable is set (even CI=false), and a profile inherits from what is loaded.
_BASE = settings.get_profile("default")
settings.register_profile("ci", _BASE, derandomize=True, database=None, max_examples=100, **_COMMON)
settings.register_profile("dev", _BASE, max_examples=500, **_COMMON)


_CHOSEN = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
settings.load_profile(_CHOSEN)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Two workers per core: run one at a time, the tests keep a core busy only about half the
    time (they wait on the subprocesses and servers they start), so one worker per core would
    leave the machine half idle. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when it is set.
    """
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return int(chosen)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 * cores
