"""Schwab streamer response codes, and what each one means for the runner.

Codes arrive in ``response`` acks (to LOGIN, SUBS, ADD, UNSUBS) and in ``notify``
frames the server sends on its own (stop streaming, a second connection taking over).
Each gets a sentence an operator can act on.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Code(IntEnum):
    SUCCESS = 0
    LOGIN_DENIED = 3
    UNKNOWN_FAILURE = 9
    SERVICE_NOT_AVAILABLE = 11
    CLOSE_CONNECTION = 12
    REACHED_SYMBOL_LIMIT = 19
    STREAM_CONN_NOT_FOUND = 20
    BAD_COMMAND_FORMAT = 21
    FAILED_COMMAND_SUBS = 22
    FAILED_COMMAND_UNSUBS = 23
    FAILED_COMMAND_ADD = 24
    FAILED_COMMAND_VIEW = 25
    STOP_STREAMING = 30


EXPLAIN: dict[int, str] = {
    Code.LOGIN_DENIED: "Schwab denied the streamer login: the access token was not accepted",
    Code.UNKNOWN_FAILURE: "Schwab's streamer reported an unknown failure",
    Code.SERVICE_NOT_AVAILABLE: "the requested Schwab streaming service is not available",
    Code.CLOSE_CONNECTION: (
        "Schwab closed this stream because another connection for the same account was opened "
        "(one streamer connection per account: stop the other client, e.g. a second runner or thinkorswim API app)"
    ),
    Code.REACHED_SYMBOL_LIMIT: "Schwab's per-connection symbol limit is reached",
    Code.STREAM_CONN_NOT_FOUND: "Schwab no longer knows this stream connection",
    Code.BAD_COMMAND_FORMAT: "Schwab rejected the request format",
    Code.FAILED_COMMAND_SUBS: "Schwab refused the subscription",
    Code.FAILED_COMMAND_UNSUBS: "Schwab refused the unsubscription",
    Code.FAILED_COMMAND_ADD: "Schwab refused to add the symbols",
    Code.STOP_STREAMING: "Schwab stopped streaming to this connection (idle, slow reader or server maintenance)",
}

#: Codes that end the connection: reconnect (or give up, for repeated login denials).
CONNECTION_CODES = frozenset(
    {Code.LOGIN_DENIED, Code.UNKNOWN_FAILURE, Code.SERVICE_NOT_AVAILABLE, Code.CLOSE_CONNECTION,
     Code.STREAM_CONN_NOT_FOUND, Code.STOP_STREAMING}
)


def explain(code: int, msg: str = "") -> str:
    text = EXPLAIN.get(code, f"Schwab streamer code {code}")
    return f"{text} (code {code}{': ' + msg if msg else ''})"


def response_content(frame: Any) -> tuple[int, str] | None:
    """``(code, msg)`` of the first entry of a ``response``/``notify`` frame, if it has one."""
    if not isinstance(frame, dict):
        return None
    for key in ("response", "notify"):
        entries = frame.get(key)
        if isinstance(entries, list):
            for entry in entries:
                content = entry.get("content") if isinstance(entry, dict) else None
                if isinstance(content, dict) and isinstance(content.get("code"), int):
                    return content["code"], str(content.get("msg", ""))
    return None
