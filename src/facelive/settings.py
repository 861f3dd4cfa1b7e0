"""The one settings object. Every field reads from a ``FACELIVE_*`` environment variable.

Nothing is built here: constructing ``Settings()`` only reads and validates values. Every field
is documented in ``docs/configuration.md`` (a test fails when one is missing).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    """Where downloaded models go when ``FACELIVE_MODEL_DIR`` does not hold them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facelive" / "models"


def default_data_dir() -> Path:
    """Where the SQLite key store and the generated server key live."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facelive"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FACELIVE_", extra="ignore", frozen=True, protected_namespaces=()
    )

    model_dir: Path | None = Field(
        default=None,
        description=(
            "Folder holding the model files, laid out as <sub-folder>/<file> (for example "
            "yunet/yunet_s_dynamic.onnx). Searched first; never written to."
        ),
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description=(
            "User cache for models that are not in model_dir; missing files are downloaded "
            "here. Default: $XDG_CACHE_HOME/facelive/models or ~/.cache/facelive/models."
        ),
    )
    allow_download: bool = Field(
        default=True,
        description="Download a missing model from its upstream URL (HTTPS, sha256-checked).",
    )
    download_timeout_s: float = Field(
        default=60.0, gt=0, description="Timeout in seconds for each model download."
    )
    threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "ONNX Runtime intra-op threads per model session; 0 picks the number of CPU "
            "cores, at most 4."
        ),
    )
    thresh: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Default liveness threshold: a face is live when its score is above it.",
    )
    min_side: int = Field(
        default=15, ge=1, description="Smallest accepted image width or height, in pixels."
    )
    max_side: int = Field(
        default=8192, ge=1, description="Largest accepted image width or height, in pixels."
    )
    max_image_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="Largest accepted encoded image, in bytes (20 MB by the contract).",
    )
    detect_max_side: int = Field(
        default=320,
        ge=64,
        le=4096,
        description=(
            "Images are downscaled so their longer side is at most this many pixels for face "
            "detection only; the liveness models crop from the full image (or a reduced JPEG "
            "decode, see reduced_decode). 320 is a webcam frame's size: a quarter of the "
            "detector's work at 640, and no worse on fas-dev (docs/performance.md)."
        ),
    )
    detect_retry_max_side: int = Field(
        default=640,
        ge=0,
        le=4096,
        description=(
            "When no face is found on the detect_max_side copy of a larger image, detection "
            "runs once more on a copy at most this large, so a small face in a big picture "
            "is still found; 0 turns the second look off."
        ),
    )
    reduced_decode: bool = Field(
        default=True,
        description=(
            "Decode large JPEGs at 1/2, 1/4 or 1/8 size (DCT scaling), never below the "
            "detector's larger input (detect_retry_max_side), and crop the liveness patches "
            "from that copy while every crop window keeps at least twice the patch size "
            "(else decode larger). Part of the pipeline's definition: the calibration and "
            "facelive's models were fitted with it (docs/performance.md). Off (0) decodes every "
            "pixel: 2-3x slower on phone photos, and scores of JPEGs of 1,280 px or more move."
        ),
    )
    model_profile: str = Field(
        default="default",
        description=(
            "Which liveness models run: default (the package's default profile), facelive "
            "(facelive's own trained models, see src/facelive/models/weights/MODEL_CARD.md) "
            "or upstream (the MiniFASNet weights as published, for operators who need weights "
            "trained only on permissively licensed data). facelive models list shows each."
        ),
    )
    extra_models: str = Field(
        default="",
        description=(
            "Comma-separated optional liveness models to add to the default ones, for example "
            "facenox_minifas128. Off by default: its training data forbids commercial use "
            "(see facelive models list)."
        ),
    )
    detect_min_score: float = Field(
        default=0.6, gt=0.0, lt=1.0, description="Face detector confidence needed to keep a face."
    )

    # --- service -------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address `facelive serve` listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port `facelive serve` listens on.")
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Worker processes of `facelive serve`; each loads its own models. 0 (the "
            "default): one per CPU core this process may use (affinity and cgroup quota)."
        ),
    )
    shutdown_grace_s: int = Field(
        default=20,
        ge=1,
        le=3600,
        description=(
            "On SIGTERM or SIGINT `facelive serve` stops accepting connections at once and "
            "gives requests in flight this many seconds to finish; then it cancels them "
            "and exits."
        ),
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description=(
            "Folder for the SQLite key store (facelive.db) and the generated server key "
            "(server.key, mode 0600). Default: $XDG_DATA_HOME/facelive or "
            "~/.local/share/facelive."
        ),
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "Key store database. Unset: SQLite in data_dir. A postgresql:// URL: that "
            "PostgreSQL database, shared by every facelive process pointing at it."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Server key (64 hex digits) that encrypts the AppSecrets at rest. Unset: read from "
            "data_dir/server.key, generated on first start."
        ),
    )
    signature_window_s: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="Signed requests: x-ca-timestamp must be within this many seconds of now.",
    )
    url_allowlist: str = Field(
        default="",
        description=(
            "Comma-separated networks (CIDR) and host names that image_url may reach even "
            "though they are not public (loopback, private, link-local...). Empty: none."
        ),
    )
    url_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Total time allowed to fetch an image_url."
    )
    url_max_redirects: int = Field(
        default=3, ge=0, le=10, description="Redirects followed when fetching an image_url."
    )
    rate_limit_rps: float = Field(
        default=0.0,
        ge=0.0,
        description=(
            "Requests per second allowed per key, counted in the key store's database across "
            "every worker and server sharing it; 0 disables it."
        ),
    )
    rate_limit_burst: int = Field(
        default=10, ge=1, description="Requests a key may send at once above rate_limit_rps."
    )
    failed_attempt_limit: int = Field(
        default=0,
        ge=0,
        description=(
            "Failed liveness attempts (not live: 4004, 4005) a key may make within "
            "failed_attempt_window_s before it is refused with 4029 until the window ends; "
            "0 disables it."
        ),
    )
    failed_attempt_window_s: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="Length in seconds of the window in which failed attempts are counted.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    admin_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token of the operator console at /admin and its API under /admin/api "
            "(at least 16 characters). Unset: /admin and /admin/api answer 404."
        ),
    )
    recent_requests: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description=(
            "How many recent requests (metadata only: time, key, code, score, latency) the key "
            "store keeps for the console and `facelive keys recent`; older ones are deleted."
        ),
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description=(
            "Seconds a client has to send a request's line and headers, counted from when the "
            "connection opens or, on a kept-alive connection, from the end of the previous "
            "response; a slower client is disconnected without an answer, so idle or trickling "
            "connections cannot pile up (slowloris)."
        ),
    )
    body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a client has to send the whole body of a liveness request, counted from "
            "when its credentials are accepted; slower bodies get 4006 (HTTP 408) and the "
            "connection is closed."
        ),
    )

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty variable means unset; a short token could be guessed.
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("FACELIVE_ADMIN_TOKEN must be at least 16 characters")
        return value

    def onnx_threads(self) -> int:
        if self.threads:
            return self.threads
        return max(1, min(4, os.cpu_count() or 1))
