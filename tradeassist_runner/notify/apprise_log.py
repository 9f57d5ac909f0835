"""apprise's own explanation of a rejected URL, kept for our message.

apprise says why it refused a URL only on its logger; both the quick URL check and the
full one (which loads every plugin) word their messages from those lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_apprise_log() -> Iterator[list[str]]:
    """apprise explains a rejected URL on its logger; keep those lines for our message."""
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("apprise")
    handler = _Keep(logging.WARNING)
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved
