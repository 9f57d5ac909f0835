"""``carried.write_states`` (a batch's changed rules written into the state dicts in one
pass) writes what ``state_dict`` rule by rule writes: the same dicts, key order and
types included, also where two rules share one state key."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeassist_runner.engine.carried import Carried, state_dict, write_states
from tradeassist_runner.engine.sparse import NEVER

times = st.one_of(st.just(NEVER), st.integers(-(1 << 50), 1 << 50))
olds = st.one_of(
    st.none(),
    st.fixed_dictionaries({"last": st.one_of(st.none(), st.integers(0, 1 << 40)), "armed": st.booleans()},
                          optional={"run": st.one_of(st.none(), st.integers(0, 1 << 40)), "extra": st.integers()}),
)


@settings(deadline=None, max_examples=40)
@given(data=st.data(), n=st.integers(1, 12))
def test_write_states_is_state_dict_per_rule(data: st.DataObject, n: int) -> None:
    last = np.asarray(data.draw(st.lists(times, min_size=n, max_size=n)), np.int64)
    run = np.asarray(data.draw(st.lists(times, min_size=n, max_size=n)), np.int64)
    armed = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)
    has_for = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)
    keys = data.draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=n, max_size=n))
    start: dict[str, dict[str, Any]] = {}
    for key in set(keys):
        old = data.draw(olds)
        if old is not None:
            start[key] = old
    rows = np.asarray(sorted(data.draw(st.sets(st.integers(0, n - 1)))), np.int64)
    carried = Carried(last, run, armed)
    want = dict(start)
    for i in rows.tolist():
        want[keys[i]] = state_dict(want.get(keys[i]), carried, i, bool(has_for[i]))
    got = dict(start)
    write_states(got, keys, carried, rows, has_for)
    assert json.dumps(got) == json.dumps(want)
    assert {k: [type(v) for v in d.values()] for k, d in got.items()} == \
        {k: [type(v) for v in d.values()] for k, d in want.items()}
