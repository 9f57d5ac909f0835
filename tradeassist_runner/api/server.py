"""uvicorn in the runner's own process and event loop.

One process, one loop: the API reads the observer directly, with no IPC and no locks.
Two things differ from ``uvicorn.run``:

- uvicorn's signal handlers are switched off. It would replace the runner's SIGINT/SIGTERM
  handlers (which flush the alert log and snapshot state) and SIGHUP would no longer
  reload; the runner stops the server itself when it stops.
- We bind the socket ourselves, so a port in use is a clear :class:`ApiError` (uvicorn
  would ``sys.exit`` inside a task) and port 0 resolves to the real port before we log
  ``api listening host=... port=...``.

An address other than loopback without a token would serve rules, alerts and status to
the whole network: that refuses to start unless ``api.allow_unauthenticated`` says it is
meant (a proxy in front doing the auth), and then warns at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Generator

import uvicorn

from ..config.loaded import LoadedConfig
from ..config.models import ApiSettings
from ..errors import ApiError
from ..logs import KeyValueFormatter, log
from ..service.observe import Observer
from ..settings import Settings
from ..sinks.backend import open_reader
from .app import create_app
from .realtime import RealtimeHub

logger = logging.getLogger("tradeassist.api")

#: Seconds open HTTP connections get to finish at shutdown before they are cut.
GRACEFUL_SHUTDOWN = 3
#: Seconds uvicorn gets to start serving on the bound socket.
START_TIMEOUT = 10.0
#: Largest message a client may send on the WebSocket (it only ever sends pings).
WS_MAX_MESSAGE = 64 * 1024


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:  # uvicorn >= 0.29
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass


def _quiet_uvicorn() -> None:
    """uvicorn's own warnings and errors in our key=value format (redacted); its info lines dropped."""
    uv = logging.getLogger("uvicorn")
    if any(getattr(h, "_tradeassist", False) for h in uv.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    handler.setLevel(logging.WARNING)
    handler._tradeassist = True  # type: ignore[attr-defined]
    uv.addHandler(handler)
    uv.setLevel(logging.WARNING)
    uv.propagate = False


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0 = any free port); ``ApiError`` if impossible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ApiError(f"api: cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ApiError(
            f"api: cannot listen on {host}:{port}: {exc.strerror or exc}; choose another api.port "
            "(0 = any free port) or set TRADEASSIST_API_PORT"
        ) from None
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ApiServer:
    """Start and stop the API next to the run loop."""

    def __init__(self, loaded: LoadedConfig, observer: Observer, settings: Settings) -> None:
        self.config: ApiSettings = loaded.config.api
        self.observer = observer
        self.reader = open_reader(loaded)
        token = settings.api_token.get_secret_value() if settings.api_token is not None else None
        if token is not None and len(token) < 16:
            log(logger, logging.WARNING, "TRADEASSIST_API_TOKEN is short; use 32+ random characters "
                "(e.g. openssl rand -hex 32)")
        self.authenticated = token is not None
        self.app = create_app(observer, self.reader, self.config, token)
        self.hub: RealtimeHub = self.app.state.hub
        self.url: str | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        _quiet_uvicorn()
        sock = await asyncio.to_thread(bind, self.config.host, self.config.port)
        self._guard_open_bind(sock)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
            ws_max_size=WS_MAX_MESSAGE,
            server_header=False,
        )
        self._socket = sock
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api-server")
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not self._server.started:
            if self._task.done():  # failed during start-up
                error = self._task.exception()
                raise ApiError(f"api: server failed to start: {error!r}")
            if asyncio.get_running_loop().time() > deadline:
                raise ApiError(f"api: server did not start within {START_TIMEOUT:g}s")
            await asyncio.sleep(0.01)
        self.hub.start()
        self.url = _url(sock)
        self.observer.api_url = self.url
        host, port = sock.getsockname()[:2]
        # host and port, not a URL, and "required", not "token": the log redaction masks
        # anything shaped scheme://... and whatever follows the word token.
        log(logger, logging.INFO, "api listening", host=host, port=port,
            paths="/healthz /readyz /metrics /api/* /ws/realtime",
            auth="required" if self.authenticated else "none")

    def _guard_open_bind(self, sock: socket.socket) -> None:
        """Judge the address actually bound (a host name may resolve anywhere)."""
        bound = str(sock.getsockname()[0])
        if self.authenticated or _is_loopback(bound):
            return
        where = f"{self.config.host}:{sock.getsockname()[1]}"
        if not self.config.allow_unauthenticated:
            sock.close()
            raise ApiError(
                f"api: refusing to serve {where} without authentication: anyone who can reach it "
                "could read rules, alerts and status. Set TRADEASSIST_API_TOKEN (e.g. openssl rand -hex 32), "
                "bind api.host: 127.0.0.1, or set api.allow_unauthenticated: true if a proxy in front authenticates"
            )
        log(logger, logging.WARNING, f"api serving {where} without authentication (api.allow_unauthenticated "
            "is true): anyone who can reach it can read rules, alerts and status")

    async def stop(self) -> None:
        """Close WebSocket clients (1001), let HTTP requests finish, stop listening."""
        await self.hub.close()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), GRACEFUL_SHUTDOWN + 2)
            except (TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down anyway
                self._server.force_exit = True
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
                if not isinstance(exc, asyncio.TimeoutError):
                    log(logger, logging.WARNING, "api server stopped with an error", error=repr(exc))
        if self._socket is not None:
            self._socket.close()
        await asyncio.to_thread(self.reader.close)
        if self.observer.api_url is not None:
            self.observer.api_url = None
            log(logger, logging.INFO, "api stopped")
