"""Bearer-token authentication for every endpoint but ``/healthz`` and the API's own description.

A plain ASGI middleware rather than a per-route dependency: it also covers unknown paths
and the WebSocket handshake, so no route can be added unprotected by forgetting a
decorator argument. ``/docs`` and ``/openapi.json`` stay open: they describe the API and
hold no data, and a browser must load them to use the Authorize button. Tokens are compared in constant time
(``hmac.compare_digest``) and never logged: the token is registered with the log
redaction, and a rejected request logs nothing but its path.

The WebSocket takes the token from the ``Authorization`` header or, for browsers that
cannot set headers on a WebSocket, from a subprotocol: the client offers ``tradeassist``
and ``tradeassist.bearer.<base64url of the token>`` in ``Sec-WebSocket-Protocol`` and the
server answers ``tradeassist``. That keeps the token out of the URL, which proxies, browser
history and access logs keep. The older ``?token=`` query parameter still works for
existing clients, but puts the secret where those logs can see it.

The dashboard's page and its static assets are open too: a browser navigating to ``/`` cannot
send a header, and they hold no data (the page asks for the token, then calls the API with it).
"""

from __future__ import annotations

import base64
import binascii
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
OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/"})
#: Path prefixes served without a token: the dashboard's static files (code, no data).
OPEN_PREFIXES = ("/dashboard/",)
#: The WebSocket subprotocol the server speaks, and the prefix of the one that carries a token.
SUBPROTOCOL = "tradeassist"
TOKEN_SUBPROTOCOL = "tradeassist.bearer."


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


def subprotocol_token(scope: Scope) -> str | None:
    """The token of an offered ``tradeassist.bearer.<base64url>`` subprotocol, if any decodes."""
    for offered in scope.get("subprotocols", ()):
        if isinstance(offered, str) and offered.startswith(TOKEN_SUBPROTOCOL):
            encoded = offered[len(TOKEN_SUBPROTOCOL):]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
    return None


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
        path = str(scope.get("path", ""))
        if kind not in ("http", "websocket") or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
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
        if any(self._valid(found) for found in (bearer(scope), subprotocol_token(scope), query_token(scope))):
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
