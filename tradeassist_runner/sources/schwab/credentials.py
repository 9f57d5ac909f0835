"""Schwab app credentials from the environment, never from a file under version control.

``SecretStr`` keeps them out of reprs, tracebacks and logs; only :mod:`.auth` unwraps
them, at the moment they are handed to schwab-py.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ...errors import SourceError

ENV_PREFIX = "TRADEASSIST_SCHWAB_"
DEFAULT_CALLBACK_URL = "https://127.0.0.1:8182"


class SchwabCredentials(BaseSettings):
    """``TRADEASSIST_SCHWAB_APP_KEY``, ``..._APP_SECRET``, ``..._CALLBACK_URL``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    app_key: SecretStr
    app_secret: SecretStr
    callback_url: str = DEFAULT_CALLBACK_URL


def load_credentials() -> SchwabCredentials:
    """Read the environment; name every missing variable in one clear error."""
    try:
        creds = SchwabCredentials()  # type: ignore[call-arg]
    except ValidationError as exc:
        names = sorted({f"{ENV_PREFIX}{str(e['loc'][0]).upper()}" for e in exc.errors() if e["loc"]})
        raise SourceError(
            "Schwab credentials missing or invalid in the environment: "
            + ", ".join(names)
            + " (the app key and secret of your app on developer.schwab.com)"
        ) from None
    if not creds.app_key.get_secret_value() or not creds.app_secret.get_secret_value():
        raise SourceError(f"{ENV_PREFIX}APP_KEY and {ENV_PREFIX}APP_SECRET must not be empty")
    return creds
