"""The dashboard: one HTML page and its script and style, served from the installed package.

Plain files, no build step and nothing from a CDN: the page reads the same API as every
other client (``/api/*`` and ``/ws/realtime``), so it shows nothing the API does not. The
files are read once when the app is built; they are code, not data, so they are served
without the token (the page asks for it and sends it with every call).

Every response carries a Content-Security-Policy that allows nothing but this origin: a
page that loads a script or a font from elsewhere is a bug, and the browser refuses it.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Response

#: What may be served under /dashboard/, with its media type; anything else is a 404.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
#: 'self' covers ws:/wss: to this host in CSP level 3 (every current browser).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _read(name: str) -> bytes:
    return (files(__package__) / "static" / name).read_bytes()


def dashboard_router() -> APIRouter:
    """``GET /`` (the page) and ``GET /dashboard/{asset}``, kept out of the OpenAPI document."""
    page = _read("index.html")
    assets = {name: (_read(name), media) for name, media in ASSETS.items()}
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    @router.get("/dashboard/{name}")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no dashboard file {name!r}")
        body, media = found
        return Response(body, media_type=media, headers=HEADERS)

    return router
