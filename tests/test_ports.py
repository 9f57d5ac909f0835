"""The test servers' ports: free when handed out, never the same in two workers."""

from __future__ import annotations

import itertools
import socket

import pytest

from .ports import BLOCK, LOWEST, _ephemeral_low, _walk, free_port


def test_a_port_is_free_below_the_kernels_own_range_and_not_handed_out_twice() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST <= p < _ephemeral_low() for p in ports)
    for port in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_two_workers_walk_blocks_that_never_meet(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = []
    for worker in ("gw0", "gw1", "gw7"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        blocks.append(set(itertools.islice(_walk(), BLOCK)))
    assert all(len(b) == BLOCK for b in blocks)
    assert not (blocks[0] & blocks[1]) and not (blocks[0] & blocks[2]) and not (blocks[1] & blocks[2])
