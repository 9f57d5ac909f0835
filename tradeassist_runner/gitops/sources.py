"""Load "a config or a rules folder" into a :class:`LoadedConfig`, with located errors.

``tradeassist test`` and ``tradeassist diff`` accept a bare rules folder as well as a
config file, because a rules repository (or a pull request) may hold only rules. The
loader only knows configs, so a bare folder gets a throw-away config next to it in a
temporary folder: every check, every message and every ``PATH:LINE:COLUMN`` then comes
from the one loader that ``validate`` and ``run`` use.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..config.loaded import LoadedConfig
from ..config.loader import find_rule_files, load_config
from ..errors import ConfigError
from ..config.yaml_source import load_yaml


def load_source(
    path: Path, *, instruments: Iterable[dict[str, Any]] = (), declare_used: bool = False
) -> LoadedConfig:
    """A config file, or a rules folder (plus ``instruments``); raise ConfigError like the loader.

    ``declare_used``: symbols the rules name but nobody declares are declared on the fly
    (a rules folder alone does not say what its config declares; a diff only needs the rules).
    """
    if not path.is_dir():
        return load_config(path)
    declared = list(instruments)
    if declare_used:
        known = {str(i.get("symbol")) for i in declared} | _declared_in(path)
        for symbol in sorted(_used_in(path) - known):
            declared.append({"symbol": symbol, "type": "equity"})
    with tempfile.TemporaryDirectory(prefix="tradeassist-") as tmp:
        config = Path(tmp) / "config.yaml"
        # Rule files show up in messages relative to the current folder when they are
        # under it (clickable in CI logs), else as absolute paths.
        if os.path.relpath(path.absolute()).startswith(".."):
            shown_config, rules_dir = str(config), str(path.absolute())
        else:
            shown_config, rules_dir = os.path.relpath(config), os.path.relpath(path.absolute(), tmp)
        with config.open("w", encoding="utf-8") as fh:
            YAML(typ="safe", pure=True).dump({"instruments": declared, "rules_dir": rules_dir}, fh)
        return load_config(shown_config)


def _raw_files(rules_dir: Path) -> list[Any]:
    out = []
    for file in find_rule_files(rules_dir):
        try:
            out.append(load_yaml(file).data)
        except ConfigError:
            continue  # reported by the real load
    return [d for d in out if isinstance(d, dict)]


def _declared_in(rules_dir: Path) -> set[str]:
    return {
        str(i["symbol"])
        for data in _raw_files(rules_dir)
        for i in (data.get("instruments") or [])
        if isinstance(i, dict) and isinstance(i.get("symbol"), str)
    }


def _used_in(rules_dir: Path) -> set[str]:
    return {
        str(r["instrument"])
        for data in _raw_files(rules_dir)
        for r in (data.get("rules") or [])
        if isinstance(r, dict) and isinstance(r.get("instrument"), str)
    }
