"""One Settings object, read once: defaults < TOML config file < environment < command line.

Every scalar field is also a ``streamchat serve`` option and a ``STREAMCHAT_<NAME>`` environment
variable (docs/configuration.md is generated from this module). Providers come from the config
file's ``[[providers]]`` tables and from the providers' own environment variables
(``MOONSHOT_API_KEY``, ``OPENAI_API_KEY``, ``DEEPSEEK_API_KEY``, ``OLLAMA_BASE_URL``).
API keys are held as :class:`pydantic.SecretStr` and never printed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "DEFAULT_PER_MINUTE",
    "DEFAULT_STREAMS_PER_USER",
    "ENV_PREFIX",
    "ENV_PROVIDERS",
    "ModelConfig",
    "ProviderConfig",
    "Settings",
]

ENV_PREFIX = "STREAMCHAT_"
# The per-user limits where accounts are on (without accounts: see Settings.answers_per_minute).
DEFAULT_PER_MINUTE = 60
DEFAULT_STREAMS_PER_USER = 10

# Providers enabled by their vendors' usual environment variables: (preset, key var, base URL var).
ENV_PROVIDERS: tuple[tuple[str, str | None, str], ...] = (
    ("kimi", "MOONSHOT_API_KEY", "MOONSHOT_BASE_URL"),
    ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("deepseek", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
    ("ollama", None, "OLLAMA_BASE_URL"),
)


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    context_window: int | None = None
    reasoning: bool = False
    # None: the preset's guess from the model's name (upstream/presets.py).
    vision: bool | None = None
    thinking: Literal["kimi", "reasoning_effort"] | None = None
    # This model writes its conversations' titles (when the server's ``titles`` is on).
    titles: bool = True


class ProviderConfig(BaseModel):
    """One upstream. ``preset`` names a known dialect (kimi, openai, deepseek, ollama, vllm) or
    ``openai-compatible``; ``base_url`` defaults to the preset's."""

    model_config = ConfigDict(extra="forbid")

    name: str
    preset: str = "openai-compatible"
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    models: list[ModelConfig] = Field(default_factory=list)
    list_models: bool = True
    defaults: dict[str, Any] = Field(default_factory=dict)
    # Offer Kimi's builtin $web_search on this provider (None: the preset's, on for kimi).
    web_search: bool | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    def key(self, environ: Mapping[str, str]) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return environ.get(self.api_key_env) or None
        return None


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "streamchat"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on (0: any free port).")
    workers: int = Field(1, ge=1, description="Worker processes (more than one needs Redis).")
    config: Path | None = Field(None, description="TOML config file with [[providers]].")
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where the default SQLite database lives."
    )
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL; default: SQLite in the data directory."
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis URL; shares streams between workers when set."
    )
    worker_lease: float = Field(
        5.0, gt=0, description="Seconds after which a silent worker's answers are taken over."
    )
    default_model: str | None = Field(
        None, description="Model for new conversations; default: the first configured, or demo."
    )
    demo_token_rate: float = Field(
        40.0, ge=0, description="Tokens per second of the offline demo model (0: no delay)."
    )
    first_token_timeout: float = Field(
        120.0, gt=0, description="Seconds to wait for the first token (comments do not count)."
    )
    token_gap_timeout: float = Field(
        60.0, gt=0, description="Seconds allowed between two tokens (comments do not count)."
    )
    total_timeout: float = Field(900.0, gt=0, description="Seconds an answer may take in all.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect upstream.")
    upstream_retries: int = Field(
        2, ge=0, description="Retries of a retryable upstream failure before the first token."
    )
    v1_upstream_retries: int = Field(
        0,
        ge=0,
        description=(
            "The same for /v1 answers, whose SDK retries itself: by default a retryable failure "
            "goes back to the client with its Retry-After."
        ),
    )
    retry_max_wait: float = Field(
        10.0, ge=0, description="Longest Retry-After honoured before a retry, in seconds."
    )
    models_cache_ttl: float = Field(
        600.0, ge=0, description="Seconds a provider's model list is cached."
    )
    disconnect_grace: float = Field(
        30.0, ge=0, description="Seconds an answer keeps running with no client attached."
    )
    idempotency_ttl: float = Field(
        900.0,
        ge=0,
        description=(
            "Seconds a request's Idempotency-Key attaches a retry to its answer (at most "
            "replay_ttl)."
        ),
    )
    replay_ttl: float = Field(
        900.0, ge=0, description="Seconds a finished answer's events stay replayable."
    )
    responses_ttl: float = Field(
        30 * 24 * 3600.0,
        gt=0,
        description=(
            "Seconds a finished stored response of /v1/responses stays retrievable (and usable "
            "as previous_response_id); its events replay for replay_ttl."
        ),
    )
    flush_interval: float = Field(
        1.0, gt=0, description="Seconds between writes of a streaming answer to the store."
    )
    heartbeat_interval: float = Field(
        15.0, gt=0, description="Seconds of silence before an SSE ': ping' comment."
    )
    shutdown_grace: float = Field(
        10.0, ge=0, description="Seconds running answers may finish after SIGTERM."
    )
    max_body_bytes: int = Field(
        1 << 20, gt=0, description="Largest request body accepted, in bytes."
    )
    max_message_chars: int = Field(
        32000, gt=0, description="Longest user message accepted, in characters."
    )
    auth: Literal["auto", "on"] = Field(
        "auto", description="auto: accounts required unless bound to loopback; on: always."
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed to call the API from a browser."
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated Host names answered without accounts, besides localhost, "
        "loopback addresses and --host (others are refused: DNS rebinding).",
    )
    requests_per_minute: int | None = Field(
        None,
        ge=0,
        description="Answers a user may start in any 60 seconds (0: no limit); default: 60 "
        "with accounts, no limit on loopback without accounts (one local user).",
    )
    max_streams_per_user: int | None = Field(
        None,
        ge=1,
        description="Answers one user may have running at once, per worker; default: 10 with "
        "accounts, max_streams on loopback without accounts (one local user).",
    )
    max_streams: int = Field(2000, ge=1, description="Answers one worker runs at once.")
    max_completion_tokens: int | None = Field(
        None, gt=0, description="Upper bound on max_tokens sent upstream (also set when absent)."
    )
    session_ttl: float = Field(
        30 * 24 * 3600.0,
        gt=0,
        description="Seconds a page's sign-in session lasts (signing out or a new token ends it).",
    )
    credential_cache_ttl: float = Field(
        1.0,
        gt=0,
        description="Seconds a token's or session's lookup is trusted: the bound on a "
        "revocation reaching every worker (with Redis it is also announced at once).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="When set, GET /metrics needs Authorization: Bearer <this>; else it is "
        "open (like /healthz).",
    )
    send_timeout: float = Field(
        30.0, gt=0, description="Seconds a client may stop reading before it is dropped."
    )
    max_messages: int = Field(500, gt=0, description="Most messages accepted in one /v1 request.")
    max_file_bytes: int = Field(
        20 << 20, gt=0, description="Largest file accepted by POST /api/files, in bytes."
    )
    max_files_per_user: int = Field(
        1000, gt=0, description="Most files one user keeps (uploaded and not deleted)."
    )
    max_file_storage: int = Field(1 << 30, gt=0, description="Most bytes of files one user keeps.")
    max_attachments: int = Field(10, gt=0, description="Most files attached to one question.")
    max_image_pixels: int = Field(
        25_000_000, gt=0, description="Largest image accepted, in pixels (width x height)."
    )
    web_search_rounds: int = Field(
        4, ge=1, description="Most $web_search round trips within one answer."
    )
    titles: bool = Field(
        True,
        description="After a conversation's first answer, its model writes a short title "
        "(never the offline demo model; a model entry may say titles = false).",
    )
    title_timeout: float = Field(
        10.0, gt=0, description="Seconds the title call may take; then the first words stay."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Logging level."
    )
    providers: list[ProviderConfig] = Field(default_factory=list)

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def hosts(self) -> frozenset[str]:
        """The Host names a server without accounts answers (loopback addresses always)."""
        names = {"localhost", self.host, *self.allowed_hosts.split(",")}
        return frozenset(n.strip().lower().strip("[]").rstrip(".") for n in names if n.strip())

    @property
    def auth_required(self) -> bool:
        return self.auth == "on" or not self.loopback

    @property
    def answers_per_minute(self) -> int:
        """The per-minute limit in force: without accounts every local client is the one user
        ``local`` (a batch of a few hundred requests from one script is normal there), so the
        per-user defaults apply only where accounts are."""
        if self.requests_per_minute is not None:
            return self.requests_per_minute
        return DEFAULT_PER_MINUTE if self.auth_required else 0

    @property
    def streams_per_user(self) -> int:
        """Answers one user may run at once in this worker (see :attr:`answers_per_minute`)."""
        if self.max_streams_per_user is not None:
            return self.max_streams_per_user
        return DEFAULT_STREAMS_PER_USER if self.auth_required else self.max_streams

    @property
    def database(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'streamchat.db'}"

    @classmethod
    def option_fields(cls) -> dict[str, Any]:
        """The fields that are command-line options and environment variables."""
        return {k: f for k, f in cls.model_fields.items() if k != "providers"}

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Defaults < config file < ``STREAMCHAT_*`` environment < ``overrides`` (the CLI)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.option_fields():
            env_value = environ.get(ENV_PREFIX + name.upper())
            if env_value is not None and env_value != "":
                values[name] = env_value
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        file_values: dict[str, Any] = {}
        if values.get("config"):
            path = Path(values["config"])
            try:
                with path.open("rb") as handle:
                    file_values = tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ValueError(f"cannot read config file {path}: {exc}") from exc
        merged = {**file_values, **values}
        settings = cls.model_validate(merged)
        settings.providers = settings.providers + cls._env_providers(settings.providers, environ)
        return settings

    @staticmethod
    def _env_providers(
        configured: list[ProviderConfig], environ: Mapping[str, str]
    ) -> list[ProviderConfig]:
        taken = {p.name for p in configured}
        found = []
        for preset, key_var, url_var in ENV_PROVIDERS:
            key = environ.get(key_var) if key_var else None
            url = environ.get(url_var) or None
            enabled = bool(key) if key_var else bool(url)
            if not enabled or preset in taken:
                continue
            found.append(
                ProviderConfig(
                    name=preset,
                    preset=preset,
                    base_url=url,
                    api_key=SecretStr(key) if key else None,
                )
            )
        return found
