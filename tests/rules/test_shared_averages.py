"""``moving_averages`` computes an average once for items with the same period and the
same carried state: every item must still get, bit for bit, what ``moving_average``
gives it alone, and a state of its own."""

from __future__ import annotations

import numpy as np
import pytest

from tradeassist_runner.rules.indicators import AverageState, moving_average, moving_averages


def bits(x: np.ndarray) -> bytes:
    return np.asarray(x, np.float64).tobytes()


@pytest.mark.parametrize("average", ["sma", "ema"])
def test_items_sharing_a_period_get_their_own_averages(average: str) -> None:
    kind = "ema" if average == "ema" else "sma"
    price = np.asarray([0.0, -1.25, 1.5, 2.25, -0.5, 3.0, 0.0, 7.5], np.float64)
    carried = moving_average(kind, 3, None, np.asarray([5.0, -1.0, 4.0]))[1]
    items: list[tuple[int, AverageState | None]] = [
        (3, None), (3, carried), (3, None), (2, None), (3, carried),
    ]
    together = moving_averages(kind, items, price)
    for (period, state), (ma, new_state) in zip(items, together):
        alone, alone_state = moving_average(kind, period, state, price)
        assert bits(ma) == bits(alone)
        assert new_state == alone_state
        assert bits(np.asarray(new_state["tail"])) == bits(np.asarray(alone_state["tail"]))
    assert together[0][1] is not together[2][1]
    assert together[0][1]["tail"] is not together[2][1]["tail"]
