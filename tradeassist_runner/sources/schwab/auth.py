"""The Schwab token file: read, write (0600, atomically), judge its age, log in.

schwab-py's OAuth2 client refreshes the 30-minute access token by itself, but the
refresh token dies 7 days after the interactive login, and only a new login (a human
in a browser) makes a new one. So the runner checks the token *before* connecting,
warns days ahead, and turns a missing, expired or rejected token into one clear
:class:`SourceError` instead of a traceback from deep inside authlib.

The token file holds live credentials: it is written with mode 0600 through a
temporary file and a rename, so a crash never leaves half a token behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import webbrowser
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ...errors import SourceError
from .credentials import SchwabCredentials

if TYPE_CHECKING:
    import httpx
    from schwab.client import AsyncClient

#: Schwab's refresh tokens expire this long after the interactive login.
REFRESH_TOKEN_LIFETIME = timedelta(days=7)


def login_hint(config: str | None = None) -> str:
    return f"run `tradeassist schwab login {config or 'CONFIG'}` to create a new token"


@dataclass(frozen=True)
class TokenInfo:
    """What can be known about a token without using it."""

    path: Path
    created: datetime
    access_expires: datetime | None

    @property
    def refresh_expires(self) -> datetime:
        return self.created + REFRESH_TOKEN_LIFETIME

    def age(self, now: datetime) -> timedelta:
        return now - self.created

    def remaining(self, now: datetime) -> timedelta:
        return self.refresh_expires - now

    def expired(self, now: datetime) -> bool:
        return self.remaining(now) <= timedelta(0)


def format_span(span: timedelta) -> str:
    """``2d 3h``, ``4h 12m``, ``37m``: precise enough to plan a re-login."""
    seconds = int(abs(span.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


class TokenStore:
    """The token file in schwab-py's format: ``{"creation_timestamp": int, "token": {...}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The wrapped token; a :class:`SourceError` saying what to do when it is unusable."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SourceError(f"no Schwab token at {self.path}: {login_hint()}") from None
        except OSError as exc:
            raise SourceError(f"cannot read the Schwab token {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise SourceError(f"the Schwab token {self.path} is not valid JSON: {login_hint()}") from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("creation_timestamp"), (int, float))
            or not isinstance(data.get("token"), dict)
        ):
            raise SourceError(
                f"the Schwab token {self.path} is not in schwab-py's format "
                f"(creation_timestamp + token): {login_hint()}"
            )
        return data

    def write(self, wrapped: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        """schwab-py's token write hook (called on login and on every refresh)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=self.path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(wrapped, f)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def info(self) -> TokenInfo:
        data = self.read()
        created = datetime.fromtimestamp(data["creation_timestamp"], timezone.utc)
        expires_at = data["token"].get("expires_at")
        access = (
            datetime.fromtimestamp(expires_at, timezone.utc)
            if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool)
            else None
        )
        return TokenInfo(self.path, created, access)


def check_token(store: TokenStore, now: datetime | None = None) -> TokenInfo:
    """The token's info, or a :class:`SourceError` if it is missing or past its 7 days."""
    now = now or datetime.now(timezone.utc)
    info = store.info()
    if info.expired(now):
        raise SourceError(
            f"the Schwab refresh token in {store.path} expired {format_span(-info.remaining(now))} ago "
            f"(tokens last 7 days from login): {login_hint()}"
        )
    return info


def open_client(
    creds: SchwabCredentials, store: TokenStore, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncClient:
    """schwab-py's async REST client on the stored token; it refreshes and rewrites the token.

    ``transport`` replaces the HTTP transport of the OAuth2 session (tests serve the REST
    and token endpoints from an ``httpx.MockTransport``, since schwab-py's host is fixed).
    Blocking (reads the token file): call it through ``asyncio.to_thread``.
    """
    import schwab.auth

    client = schwab.auth.client_from_access_functions(
        creds.app_key.get_secret_value(),
        creds.app_secret.get_secret_value(),
        store.read,
        store.write,
        asyncio=True,
        enforce_enums=False,
    )
    if transport is not None:
        client.session._transport = transport  # httpx has no public setter after construction
    return client


def browser_available() -> bool:
    """A browser schwab-py can open here (none in a container or over SSH)."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name != "posix"
                or os.uname().sysname == "Darwin")


def login(creds: SchwabCredentials, store: TokenStore, *, manual: bool | None = None) -> TokenInfo:
    """Run schwab-py's login flow and write the token file (interactive; blocking).

    The browser flow needs a browser and a ``https://127.0.0.1:PORT`` callback URL (schwab-py
    catches the redirect itself); otherwise the manual flow prints the authorization URL and
    asks for the address the browser was redirected to.
    """
    import schwab.auth

    if manual is None:
        manual = not browser_available() or urlparse(creds.callback_url).hostname != "127.0.0.1"
    key, secret = creds.app_key.get_secret_value(), creds.app_secret.get_secret_value()
    try:
        if manual:
            schwab.auth.client_from_manual_flow(
                key, secret, creds.callback_url, str(store.path), token_write_func=store.write
            )
        else:
            schwab.auth.client_from_login_flow(
                key, secret, creds.callback_url, str(store.path), token_write_func=store.write
            )
    except (KeyboardInterrupt, EOFError):
        raise SourceError("login cancelled; no token written") from None
    except SourceError:
        raise
    except Exception as exc:  # authlib/httpx/schwab-py errors: one line, no traceback
        raise SourceError(f"Schwab login failed: {type(exc).__name__}: {exc}") from None
    return store.info()
