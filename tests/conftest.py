"""Hypothesis profiles: reproducible in CI, deeper on a developer's machine.

``ci`` (chosen when ``CI=true``) is derandomized with a fixed example budget and no example
database, so two CI runs of one commit try the same inputs and a red run can be replayed
from its printed blob. ``dev`` (the default elsewhere) draws fresh random inputs with more
examples per test. ``HYPOTHESIS_PROFILE`` overrides either. Tests that set their own
``max_examples`` (the costly end-to-end properties) keep that budget under both profiles.
"""

from __future__ import annotations

import os

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
