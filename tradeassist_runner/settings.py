"""Per-deployment overrides from the environment (``TRADEASSIST_*``).

The YAML files are the versioned, reviewed truth shared by every deployment; the
environment is for what differs between machines (where the alert log lives, how
chatty the logs are, batching tuned to the host) and, later, for secrets, which
must never be written into a file under version control.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .config.loaded import LoadedConfig
from .config.types import Duration
from .errors import ConfigError, Problem

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

ENV_PREFIX = "TRADEASSIST_"


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    """Environment overrides; every field is optional so an empty environment changes nothing."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    batch_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Overrides batch.max_size"
    )
    batch_max_delay: Duration | None = Field(default=None, description="Overrides batch.max_delay, e.g. 20ms")
    sqlite_path: Path | None = Field(default=None, description="Overrides storage.sqlite")
    parquet_dir: Path | None = Field(default=None, description="Overrides storage.parquet_dir")
    #: A PostgreSQL URL may hold a password, so it may come from the environment only.
    storage_url: SecretStr | None = Field(default=None, description="Overrides storage.url (postgresql://...)")
    storage_scope: Annotated[str, Field(min_length=1)] | None = Field(default=None, description="Overrides storage.scope")
    api_enabled: bool | None = Field(default=None, description="Overrides api.enabled")
    api_host: Annotated[str, Field(min_length=1)] | None = Field(default=None, description="Overrides api.host (0.0.0.0 in a container)")
    api_port: Annotated[int, Field(ge=0, le=65535)] | None = Field(default=None, description="Overrides api.port")
    #: Bearer token the API requires (every endpoint but /healthz); a secret, so never in a file.
    api_token: SecretStr | None = Field(default=None, description="Bearer token for the API; unset = no authentication")

    @field_validator("api_token", mode="before")
    @classmethod
    def _token_not_empty(cls, value: object) -> object:
        # An empty TRADEASSIST_API_TOKEN is a deployment mistake, not "no authentication".
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (unset the variable to run without authentication)")
        return value


def load_settings() -> Settings:
    """Read the environment; a bad value is a :class:`ConfigError` like any config mistake.

    The problem's path names the variable (``$TRADEASSIST_BATCH_SIZE``) since there is
    no file to point into.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            Problem(
                f"${ENV_PREFIX}{str(err['loc'][0]).upper()}" if err["loc"] else "environment",
                1,
                1,
                err["msg"].replace("Input should be", "must be").replace("Value error, ", ""),
            )
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError(problems) from None


def _absolute(path: Path) -> str:
    # An override comes from the operator's shell, so a relative one means relative to
    # where they run the command, not to the config file's folder.
    return str(path.expanduser().resolve())


def apply_settings(loaded: LoadedConfig, settings: Settings) -> LoadedConfig:
    """A copy of ``loaded`` with the environment's overrides; ``loaded`` is left as it was."""
    config = loaded.config
    batch_update: dict[str, int | timedelta] = {}
    if settings.batch_size is not None:
        batch_update["max_size"] = settings.batch_size
    if settings.batch_max_delay is not None:
        batch_update["max_delay"] = settings.batch_max_delay
    storage_update: dict[str, str] = {}
    if settings.sqlite_path is not None:
        storage_update["sqlite"] = _absolute(settings.sqlite_path)
    if settings.parquet_dir is not None:
        storage_update["parquet_dir"] = _absolute(settings.parquet_dir)
    if settings.storage_url is not None:
        storage_update["url"] = settings.storage_url.get_secret_value()
    if settings.storage_scope is not None:
        storage_update["scope"] = settings.storage_scope
    api_update: dict[str, bool | str | int] = {
        k: v
        for k, v in (("enabled", settings.api_enabled), ("host", settings.api_host), ("port", settings.api_port))
        if v is not None
    }
    if not batch_update and not storage_update and not api_update:
        return loaded
    config = config.model_copy(
        update={
            "batch": config.batch.model_copy(update=batch_update),
            "storage": config.storage.model_copy(update=storage_update),
            "api": config.api.model_copy(update=api_update),
        }
    )
    return dataclasses.replace(loaded, config=config)
