"""Keep the memory a batch job frees, instead of handing it back to the kernel at once.

A backtest allocates and frees the same few large numpy arrays for every batch. glibc
serves an allocation of more than a few hundred kilobytes from a fresh ``mmap`` and
returns it with ``munmap`` when freed (and trims the heap's top likewise), so the next
batch has the kernel map and zero those pages all over again: on a 1M-tick backtest,
about 100,000 page faults, a tenth of its CPU time. Raising the two thresholds once
keeps freed blocks in the process for reuse; the peak stays what the largest batch
needs, since a freed block is reused before the heap grows.
"""

from __future__ import annotations

import sys

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: The largest mmap threshold glibc accepts on 64-bit; blocks above it are still mapped.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = (1 << 31) - 1


def keep_freed_memory() -> None:
    """For a process that runs one batch job and exits; a no-op where glibc is not the allocator."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt, nothing to tune
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


#: The environment variable polars' allocator (jemalloc, under the ``_rjem_`` prefix its
#: Rust wrapper builds it with) reads its options from once, when polars is loaded.
ARROW_ALLOCATOR_CONF = "_RJEM_MALLOC_CONF"
#: Free pages jemalloc keeps for reuse go back to the kernel after this long unused
#: (jemalloc's own default: 10 s). polars' worker threads each allocate from an arena of
#: their own, and what one thread frees another cannot reuse, so a long backtest carried
#: up to ten seconds' worth of freed batch frames in its peak (504 MB on 10M ticks at
#: 10,000 rules with JSONL output; 486-493 MB with a second). Returning pages at once
#: (427-431 MB) cost a sixth more CPU on a 1M-tick run in page faults; a second costs
#: nothing measurable there. Muzzy pages (lazily freed) still count in the resident set
#: until the kernel takes them, so they go back at once. One arena for every thread
#: (jemalloc's default is four per core) lets the engine's thread reuse what the JSONL
#: writer and polars' workers freed: 463-467 MB instead of 489-490 MB on that run, and
#: 241-246 MB instead of 264-277 MB at 1M ticks, at the same CPU (each thread's cache
#: still serves small blocks without the arena's lock).
ARROW_DIRTY_DECAY = "dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:1"


def bound_arrow_retention() -> None:
    """Before polars is loaded: its allocator returns freed pages within a second.

    A no-op once polars is loaded (the options were read then), or when the user set
    the variable themselves; a polars built without jemalloc ignores it.  Processes
    started from this one (a Dask cluster's workers) inherit it.
    """
    if "polars" in sys.modules:
        return
    import os

    os.environ.setdefault(ARROW_ALLOCATOR_CONF, ARROW_DIRTY_DECAY)
