"""Settings: IMAGEBATCH_* environment variables, then an optional TOML file, then defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _toml_path() -> Path:
    return Path(os.environ.get("IMAGEBATCH_CONFIG", "imagebatch.toml"))


class Settings(BaseSettings):
    """Every setting, with its environment variable IMAGEBATCH_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="IMAGEBATCH_", extra="ignore")

    #: where the database, stored images and logs live
    data_dir: Path = Path("imagebatch-data")
    #: SQLAlchemy URL; empty means a SQLite file in data_dir. postgresql://… uses psycopg 3.
    database_url: str = ""
    #: where image bytes live: empty = the folder <data_dir>/blobs; s3://bucket/prefix = S3
    storage_url: str = ""
    #: an S3-compatible server (MinIO, R2, …); empty = AWS itself
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    #: empty = boto3's usual credential chain (AWS_* variables, ~/.aws, instance roles)
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    #: downloads redirect to a presigned S3 URL instead of streaming through the server
    s3_presigned_downloads: bool = False
    #: how long a presigned download URL stays valid (S3 allows at most 7 days)
    s3_presign_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    #: tasks running at once across all workers (changeable at run time, 1–100)
    concurrency: int = Field(default=3, ge=1, le=100)
    #: per-provider limits on tasks running at once, e.g. {"gemini": 4}
    provider_concurrency: dict[str, int] = Field(default_factory=dict)
    #: price per image overrides for estimates, e.g. {"openai/gpt-image-1": 0.167}
    prices: dict[str, float] = Field(default_factory=dict)
    #: per-provider requests-per-minute limits, e.g. {"openai": 5}; adapts down on 429s
    provider_rpm: dict[str, float] = Field(default_factory=dict)
    #: requests per minute each API key of a provider may make, e.g. {"gemini": 10}; a key
    #: adapts down on its 429s (per process)
    key_rpm: dict[str, PositiveFloat] = Field(default_factory=dict)
    #: calls in flight per API key of a provider, e.g. {"openai": 2} (per process)
    key_concurrency: dict[str, PositiveInt] = Field(default_factory=dict)
    #: economy mode: share of the price a provider's batch jobs save, e.g. {"openai": 0.5}
    #: (defaults: the providers' published batch discounts)
    economy_discount: dict[str, Annotated[float, Field(ge=0, lt=1)]] = Field(default_factory=dict)
    #: economy mode: seconds between two looks at a running provider batch job
    economy_poll_seconds: float = Field(default=60.0, gt=0)
    #: attempts per task, the first included (3 = up to 2 retries)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_base_delay: float = Field(default=2.0, ge=0)
    retry_max_delay: float = Field(default=300.0, ge=0)
    #: seconds a claimed task stays ours without a heartbeat
    lease_seconds: float = Field(default=60.0, gt=0)
    #: tasks one batch may expand to
    max_tasks_per_batch: int = Field(default=10_000, ge=1)
    #: per input image file
    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: per input image, against decompression bombs
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    #: let reference-image URLs point at private or loopback addresses (trusted setups only)
    allow_private_urls: bool = False
    #: seconds to fetch one image from a URL (reference images; Seedream results as URLs)
    url_fetch_timeout: float = Field(default=20.0, gt=0)
    #: largest image a provider may hand back as a URL to download
    max_output_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    #: API keys (comma-separated for a pool) and base URLs per provider
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    seedream_api_key: SecretStr | None = None
    seedream_base_url: str = "https://ark.cn-beijing.volces.com"
    #: Jimeng keys are ACCESS_KEY_ID:SECRET_ACCESS_KEY pairs (comma-separated for a pool)
    jimeng_api_key: SecretStr | None = None
    jimeng_base_url: str = "https://visual.volcengineapi.com"
    #: ComfyUI servers (comma-separated for a pool, e.g. one per GPU), and the API-format
    #: workflow they run (default: a basic SDXL one)
    comfyui_base_url: str = ""
    #: prompts each ComfyUI server runs at once (it runs one at a time itself); the comfyui
    #: provider's limit is this times the servers, unless provider_concurrency sets one
    comfyui_backend_concurrency: int = Field(default=1, ge=1, le=64)
    comfyui_workflow: Path | None = None
    openai_compatible_api_key: SecretStr | None = None
    openai_compatible_base_url: str = ""
    openai_compatible_model: str = "gpt-image-1"
    #: seconds one provider call may take (image models can take minutes)
    provider_timeout: float = Field(default=300.0, gt=0)
    #: encrypts users' stored secrets (own API keys, webhook secrets); default: a key
    #: generated on first start into <data_dir>/secret.key
    secret_key: SecretStr | None = None
    #: password of the `admin` account created at first start (default: generated, printed)
    admin_password: SecretStr | None = None
    #: credits a new user starts with
    initial_credits: float = Field(default=0.0, ge=0)
    #: files one upload request may carry
    max_upload_files: int = Field(default=50, ge=1, le=1000)
    #: client addresses (comma-separated IPs or CIDR networks) whose X-Forwarded-For and
    #: X-Forwarded-Proto headers are believed: your reverse proxy. Empty: nobody's, not even
    #: loopback's ("*" trusts every client: only behind a proxy that overwrites them)
    forwarded_allow_ips: str = ""
    #: largest JSON request body; a larger one is refused (413) before it is read whole
    max_json_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    #: characters one prompt may have (templates, table rows, edits)
    max_prompt_chars: int = Field(default=8_000, ge=1, le=1_000_000)
    #: seconds parsing one uploaded table may take before it is refused
    parse_timeout_seconds: float = Field(default=30.0, gt=0)
    #: bearer token that lets a Prometheus scraper read /metrics (admins can without it)
    metrics_token: SecretStr | None = None
    #: pending + running tasks one user may have across their batches (admins change it live)
    max_active_tasks_per_user: int = Field(default=20_000, ge=1)
    #: live-progress (SSE) streams one user may hold open at once (admins change it live)
    max_event_streams_per_user: int = Field(default=20, ge=1)
    #: how long a browser session lasts without logging in again
    session_days: float = Field(default=14.0, gt=0)
    #: the Secure flag on cookies: auto = when the request came over https
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    #: days finished records and their files are kept (0 = forever); admins change it live
    retention_days: int = Field(default=0, ge=0)
    #: seconds one webhook POST may take, and how many times it is tried
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    #: seconds before the first retry of a failed webhook; doubles each time, at most an hour
    webhook_retry_delay: float = Field(default=10.0, ge=0)
    #: run workers inside `imagebatch serve` (false: API only, workers run elsewhere)
    serve_workers: bool = True
    #: on SIGTERM, seconds a worker lets running provider calls finish before handing the
    #: rest back to the queue (they are paid for; finishing beats redoing)
    worker_grace_seconds: float = Field(default=25.0, ge=0)
    #: demo provider: simulated latency per image
    demo_latency_ms: int = Field(default=0, ge=0)
    #: demo provider: share of calls failing with a retryable error
    demo_failure_rate: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _comfyui_pool_limit(self) -> Settings:
        backends = [url for url in self.comfyui_base_url.split(",") if url.strip()]
        if backends and "comfyui" not in self.provider_concurrency:
            limit = len(backends) * self.comfyui_backend_concurrency
            self.provider_concurrency = {**self.provider_concurrency, "comfyui": limit}
        return self

    @field_validator(
        "openai_base_url",
        "gemini_base_url",
        "seedream_base_url",
        "jimeng_base_url",
        "openai_compatible_base_url",
        "comfyui_base_url",
    )
    @classmethod
    def _http_urls(cls, value: str) -> str:
        """Each URL (comma-separated for ComfyUI's pool) is http(s) with a host and a numeric
        port, so a typo is one clear line at start, not a traceback at the first call."""
        for url in (part.strip() for part in value.split(",")):
            if url:
                check_http_url(url)
        return value

    @field_validator("storage_url")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if value and not value.startswith("s3://"):
            raise ValueError(
                f"IMAGEBATCH_STORAGE_URL={value!r} is not supported: leave it empty for "
                "<data_dir>/blobs, or give s3://bucket/prefix"
            )
        if value and not value.removeprefix("s3://").split("/", 1)[0]:
            raise ValueError(
                f"IMAGEBATCH_STORAGE_URL={value!r} names no bucket: s3://bucket/prefix"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_path())
        return init_settings, env_settings, toml

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'imagebatch.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def check_http_url(url: str) -> None:
    """ValueError unless `url` is an http(s) URL with a host (and a numeric port, if any)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ValueError(f"{url!r} has a port that is not a number") from None


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def normalise_database_url(url: str) -> str:
    """Plain PostgreSQL URLs get the psycopg 3 driver (SQLAlchemy would pick psycopg2)."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url
