"""HTTP API, Prometheus metrics and WebSocket of a running ``tradeassist run``.

    app.py       routes (FastAPI)           views.py    what they show, from the Observer
    models.py    response/message models    metrics.py  /metrics (own CollectorRegistry)
    realtime.py  /ws/realtime fan-out       auth.py     bearer token (TRADEASSIST_API_TOKEN)
    server.py    uvicorn in the runner's process and event loop
    dashboard.py the page at / (static/: plain HTML, CSS and JavaScript)

It is the optional ``[server]`` extra: this module imports nothing of it, so the runner
pays for FastAPI only when ``api.enabled`` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ApiError

if TYPE_CHECKING:
    from ..config.loaded import LoadedConfig
    from ..service.observe import Observer
    from ..settings import Settings
    from .server import ApiServer

#: Top-level modules of the [server] extra; a missing one means "not installed", not a bug.
_EXTRA = frozenset({"fastapi", "starlette", "uvicorn", "prometheus_client", "pydantic_core"})


async def start_api(loaded: LoadedConfig, observer: Observer, settings: Settings) -> ApiServer:
    """Serve the API on the running loop; ``ApiError`` if the extra is missing or the port is taken."""
    try:
        from .server import ApiServer
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in _EXTRA:
            raise
        raise ApiError(
            f"api.enabled is true but the [server] extra is not installed ({exc.name} is missing): "
            "pip install 'tradeassist-runner[server]', or set api.enabled: false"
        ) from None
    server = ApiServer(loaded, observer, settings)
    try:
        await server.start()
    except BaseException:
        await server.stop()  # unsubscribe from the observer, close what was opened
        raise
    return server
