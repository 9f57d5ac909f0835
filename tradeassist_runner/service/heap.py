"""Keep the garbage collector's full passes short while a runner is live.

A runner builds most of what it holds before its first batch and on a reload: imported
modules, the validated config, the compiled plan (for 1,096 rules about 107,000 objects
the collector tracks). Left in the collector's generations, every full collection walks
all of them again: about 65 ms of CPU, every several seconds at 10,000 ticks/s, taken by
whichever thread allocates at that moment (often the engine's), so every tick arriving
meanwhile waits for it and the run's p99 latency is that pause. Moved to the permanent
generation once built (``gc.freeze``), they are left out of every later collection, which
then walks only what was made since (engine state, buffers): a few milliseconds.

Frozen objects are still freed by reference counting once dropped (a compiled plan holds
no reference cycles, so the plan a reload replaces is freed); only cyclic garbage that is
frozen would stay, so the young generations are collected first.
"""

from __future__ import annotations

import gc

__all__ = ["LongLived"]


class LongLived:
    """Freezes what is alive at :meth:`settle` (after start-up, after each reload);
    :meth:`release` at shutdown returns it to the collector, for an in-process caller
    (tests, an embedding application)."""

    def __init__(self) -> None:
        self._frozen = False

    def settle(self) -> None:
        """Collect the young generations, then freeze everything alive now.

        Cheap (the young generations are small; the old one is not walked), so it may run
        on the event loop between batches.
        """
        gc.collect(1)
        gc.freeze()
        self._frozen = True

    def release(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()
