"""Structured logging: one ``key=value`` line per event, secrets redacted.

Operators grep and ship these lines; a stable shape beats prose.  Any apprise-style
URL or bearer token that slips into a message is masked by the filter, so a secret
never reaches a log file even when an exception text contains it.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

_SECRETS = [
    # scheme://user:password@host or scheme://token/... : keep the scheme, hide the rest
    (re.compile(r"\b([a-z][a-z0-9+.-]{1,20})://[^\s'\"]+", re.IGNORECASE), r"\1://***"),
    (re.compile(r"(?i)\b(bearer|token|secret|password|apikey|api_key)([=: ]+)[^\s,'\"]+"), r"\1\2***"),    # OAuth token fields (Schwab token files, authlib errors), quoted JSON or key=value
    (
        re.compile(
            r"(?i)([\"']?\b(?:access_token|refresh_token|id_token|client_secret|app_secret|app_key|authorization)"
            r"[\"']?\s*[:=]\s*)[\"']?[^\s,'\"}]+[\"']?"
        ),
        r"\1***",
    ),
]


#: Exact secret values (from ``${ENV}`` in notification URLs) masked wherever they appear.
_KNOWN_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Mask ``value`` in every later log line; short values are ignored (they would mask words)."""
    if len(value) >= 6:
        _KNOWN_SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


def _quote(v: Any) -> str:
    s = str(v)
    return f'"{s}"' if (" " in s or "=" in s or not s) else s


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("tradeassist")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # apprise explains failures on its own logger; delivery errors already carry those
    # words (redacted) into our log and the alert log, so only its errors are shown, and
    # through the same redacting formatter. Its level stays: apprise captures per call.
    apprise_handler = logging.StreamHandler(sys.stderr)
    apprise_handler.setFormatter(KeyValueFormatter())
    apprise_handler.setLevel(logging.ERROR)
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.handlers[:] = [h for h in apprise_logger.handlers if not getattr(h, "_tradeassist", False)]
    apprise_handler._tradeassist = True  # type: ignore[attr-defined]
    apprise_logger.addHandler(apprise_handler)
    apprise_logger.propagate = False


def log(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    logger.log(level, msg, extra={"fields": fields})
