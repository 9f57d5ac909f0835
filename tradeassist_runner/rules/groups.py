"""Symbol groups and shards: how the work splits with no change in any rule's meaning.

All engine state belongs to one symbol, or to the symbols a ``spread`` rule reads
together, so the symbols tied by such rules (transitively) form a *group* that must be
evaluated in one place and in arrival order; different groups share nothing.  A group's
shard is a stable hash of its smallest symbol modulo the configured shard count: the
same on every machine and in every process (Python's ``hash`` is salted per process, so
it is not used), and independent of how many runners serve the shards.

Pure functions of the rules and instruments, so the ingest (which routes ticks), each
runner (which keeps its shard's rules) and partitioned backtests agree by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from ..config.loaded import LoadedRule
from ..config.models import Instrument
from .catalog import bodies
from .registry import REGISTRY

__all__ = ["rule_symbols", "shard_of_group", "shard_rules", "symbol_groups", "symbol_shards"]


def rule_symbols(rule: LoadedRule) -> tuple[str, ...]:
    """Every symbol a rule reads: its instrument and what its type reads besides (``other``)."""
    r = rule.rule
    out = [r.instrument]
    for body in bodies(r):
        out.extend(s for s in REGISTRY[body.type].other_symbols(body) if s not in out)
    return tuple(out)


def symbol_groups(rules: Iterable[LoadedRule], instruments: Iterable[Instrument] = ()) -> list[tuple[str, ...]]:
    """Connected components over "read by one rule"; every declared instrument is in one.

    Each group is sorted; groups are sorted by their smallest symbol.
    """
    parent: dict[str, str] = {}

    def find(s: str) -> str:
        parent.setdefault(s, s)
        root = s
        while parent[root] != root:
            root = parent[root]
        while parent[s] != root:  # path compression
            parent[s], s = root, parent[s]
        return root

    for inst in instruments:
        find(inst.symbol)
    for rule in rules:
        symbols = rule_symbols(rule)
        first = find(symbols[0])
        for other in symbols[1:]:
            root = find(other)
            if root != first:
                parent[root] = first
    members: dict[str, list[str]] = {}
    for s in list(parent):
        members.setdefault(find(s), []).append(s)
    return sorted((tuple(sorted(m)) for m in members.values()), key=lambda g: g[0])


def shard_of_group(group: Iterable[str], shards: int) -> int:
    """``sha256(smallest symbol) mod shards``: stable across processes, machines and versions."""
    if shards < 1:
        raise ValueError("the shard count must be at least 1")
    key = min(group)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def symbol_shards(
    rules: Iterable[LoadedRule], instruments: Iterable[Instrument], shards: int
) -> dict[str, int]:
    """Each symbol's shard (the shard of its group)."""
    out: dict[str, int] = {}
    for group in symbol_groups(rules, instruments):
        shard = shard_of_group(group, shards)
        for s in group:
            out[s] = shard
    return out


def shard_rules(
    rules: Iterable[LoadedRule], assignment: Mapping[str, int], shard: int
) -> tuple[LoadedRule, ...]:
    """The rules one shard evaluates, in declaration order (which orders same-tick alerts)."""
    return tuple(r for r in rules if assignment.get(r.rule.instrument) == shard)
