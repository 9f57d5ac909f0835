"""The text of a channel URL: ``${ENV}`` substitution, its scheme, a ``logfile://`` path.

Kept apart from apprise (:mod:`.channels`), so reading a URL costs no apprise import.
Resolved URLs hold secrets: every substituted value is registered with
:func:`..logs.register_secret`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from ..logs import register_secret

ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with every ``${NAME}`` replaced from ``env``; and the names that were missing."""
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        value = env.get(m.group(1))
        if value is None or value == "":
            missing.append(m.group(1))
            return ""
        register_secret(value)
        return value

    return ENV_VAR.sub(one, text), missing


def scheme_of(url: str) -> str | None:
    m = _SCHEME.match(url.strip())
    return m.group(1).lower() if m else None


def resolve_logfile(url: str, base_dir: Path) -> str:
    """``logfile://rel/path`` -> ``logfile://?path=/abs/path`` (apprise drops a leading '/' otherwise)."""
    if scheme_of(url) != "logfile" or url.startswith("logfile://?"):
        return url
    rest = url.split("://", 1)[1]
    path = Path(rest).expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    return "logfile://?path=" + quote(str(path), safe="/")
