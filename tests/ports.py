"""Free TCP ports for the test servers, that two pytest workers never both pick.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 by default). Once that socket is closed the
port is free again for anyone: another worker's ``bind(0)``, or a server it starts, may get
the same one before ours binds it. Under pytest-xdist several workers do exactly that at
the same time, so a port picked that way is a port two servers can race for.

``free_port()`` instead walks a block of ports below the ephemeral range that belongs to this
worker alone (``PYTEST_XDIST_WORKER`` is ``gw0``, ``gw1``...), from a random start so that two
test sessions on one machine rarely meet, and skips any port something already listens on.
The kernel never hands out a port there by itself, and the walk never returns a port twice
in one worker until the block wraps.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

#: Ports per worker: far more than one session ever takes (a few hundred).
BLOCK = 1000
#: The lowest port handed out, well above the well-known services a machine may run.
LOWEST = 10000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS starts at 49152


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


def _walk() -> Iterator[int]:
    blocks = max(1, (_ephemeral_low() - LOWEST) // BLOCK)
    first = LOWEST + (_worker_index() % blocks) * BLOCK
    start = random.randrange(BLOCK)
    for i in itertools.count(start):
        yield first + i % BLOCK


_PORTS = _walk()


def _taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A port nothing listens on now, and that no other worker of this session will pick."""
    for _ in range(BLOCK):
        port = next(_PORTS)
        if not _taken(port):
            return port
    raise AssertionError(f"no free port in this worker's block of {BLOCK}")
