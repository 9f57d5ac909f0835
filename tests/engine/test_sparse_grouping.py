"""The event path groups its runs by level with a radix sort up to ``RADIX_LEVELS``
levels and by a sort of (level, sample) keys past it: both agree with the matrix path.

Real plans rarely pass 2**16 levels in one batch, so here the limit is lowered to take
the key sort on the random inputs of ``test_sparse_firing``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from tradeassist_runner.engine import sparse as sparse_module
from tradeassist_runner.engine.firing import FireInput

from .test_sparse_firing import _run, batches


@pytest.mark.parametrize("radix_levels", [0, 3])
@settings(deadline=None, max_examples=40)
@given(inputs=batches())
def test_key_sort_of_runs_matches_matrix_path(radix_levels: int, inputs: list[FireInput]) -> None:
    saved = sparse_module.RADIX_LEVELS
    sparse_module.RADIX_LEVELS = radix_levels
    try:
        got: list[Any] = _run(inputs, True)
    finally:
        sparse_module.RADIX_LEVELS = saved
    assert got == _run(inputs, False)


@pytest.mark.parametrize("group_values", [1, 7])
@settings(deadline=None, max_examples=40)
@given(inputs=batches())
def test_runs_of_series_taken_a_few_at_a_time_match_matrix_path(group_values: int, inputs: list[FireInput]) -> None:
    # real batches reach ``GROUP_VALUES`` only past thousands of values: lowered here so
    # that every batch of the random inputs is split into groups of one or a few series
    saved = sparse_module.GROUP_VALUES
    sparse_module.GROUP_VALUES = group_values
    try:
        got: list[Any] = _run(inputs, True)
    finally:
        sparse_module.GROUP_VALUES = saved
    assert got == _run(inputs, False)
