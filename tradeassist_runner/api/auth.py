"""Bearer-token authentication for every endpoint but ``/healthz`` and the API's own description.

A plain ASGI middleware rather than a per-route dependency: it also covers unknown paths
and the WebSocket handshake, so no route can be added unprotected by forgetting a
decorator argument. ``/docs`` and ``/openapi.json`` stay open: they describe the API and
hold no data, and a browser must load them to use the Authorize button. Tokens are compared in constant time
(``hmac.compare_digest``) and never logged: the token is registered with the log
redaction, and a rejected request logs nothing but its path.

The WebSocket takes the token from the ``Authorization`` header or, for browsers that
cannot set headers on a WebSocket, a ``?token=`` query parameter.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from ..logs import log, register_secret

logger = logging.getLogger("tradeassist.api")

#: Paths served without a token: liveness must work for a probe that has no secret, and
#: the docs page (with its OAuth redirect helper) must load before a user can authorize.
OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def bearer(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer <token>``, if the request has one."""
    header = _header(scope, b"authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[-1] if values else None


class TokenAuth:
    """ASGI middleware: 401 unless the request carries the configured token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()
        register_secret(token)

    def _valid(self, candidate: str | None) -> bool:
        # compare_digest on bytes: constant time in the token's content.
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if kind == "http":
            if self._valid(bearer(scope)):
                await self.app(scope, receive, send)
                return
            log(logger, logging.DEBUG, "api request rejected: missing or wrong token", path=scope.get("path"))
            await JSONResponse(
                {"detail": "missing or invalid bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        if self._valid(bearer(scope)) or self._valid(query_token(scope)):
            await self.app(scope, receive, send)
            return
        log(logger, logging.DEBUG, "websocket rejected: missing or wrong token", path=scope.get("path"))
        if "websocket.http.response" in scope.get("extensions", {}):  # a real HTTP 401 on the handshake
            await JSONResponse(
                {"detail": "missing or invalid bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
        else:  # servers without the denial extension: close with "policy violation"
            await WebSocketClose(code=1008, reason="missing or invalid token")(scope, receive, send)
