"""Hub settings: every setting has a flag on `axle up` and an `AXLE_*` environment variable.

Built once at start-up (pydantic-settings) and passed down, never read from the environment
deep inside the code.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AXLE_", extra="ignore")

    data_dir: Path = Field(default=Path(".axle"), description="where the hub keeps its state")
    host: str = Field(default="127.0.0.1", description="address the API server binds")
    port: int = Field(default=8080, description="port the API server binds (0: any free)")
    database_url: str | None = Field(
        default=None, description="store URL; default sqlite:///DATA_DIR/axle.db"
    )
    encryption_key: str | None = Field(
        default=None,
        description="key that encrypts Secrets at rest; default: DATA_DIR/encryption-key",
    )
    max_body_bytes: int = Field(default=3 * 1024 * 1024, description="largest request body")
    audit_log: Path | None = Field(
        default=None, description="audit log (JSON lines); default DATA_DIR/audit.log"
    )
    resync_seconds: float = Field(default=300.0, description="periodic resync of controllers")
    lease_seconds: float = Field(default=15.0, description="leader lease duration")
    watch_log_revisions: int = Field(
        default=100_000, description="change-log entries kept for watch resume"
    )
    event_ttl_seconds: float = Field(
        default=3600.0, gt=0, description="Events last seen longer ago than this are deleted"
    )
    controllers: bool = Field(default=True, description="run the controllers in this process")
    controller_workers: int = Field(
        default=2, ge=1, description="concurrent reconciles per controller (distinct objects)"
    )
    controller_concurrency: dict[str, int] = Field(
        default_factory=dict,
        description=(
            'per-controller worker counts overriding controller_workers, e.g. {"project": 4}'
        ),
    )
    controller_backoff_base: float = Field(
        default=0.5, gt=0, description="first retry delay after a failed reconcile (doubles)"
    )
    controller_backoff_max: float = Field(
        default=300.0, gt=0, description="longest retry delay after repeated failures"
    )

    compute_sync_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often each Compute re-reads its inventory from Palette",
    )
    palette_check_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often Settings re-check that Palette answers (sooner after a failure)",
    )

    artifact_store: str | None = Field(
        default=None,
        description=(
            "where rendered artifacts are pushed: oci://HOST[:PORT]/REPO (a registry) or "
            "file:///PATH (OCI layouts, one per deployment); default file://DATA_DIR/artifacts"
        ),
    )
    artifact_store_insecure: bool = Field(
        default=False, description="talk plain HTTP to the artifact store's registry"
    )
    render_workers: int = Field(
        default=2, ge=1, description="render worker processes (renders never run in the hub)"
    )
    render_timeout_seconds: float = Field(
        default=30.0, gt=0, description="a render taking longer is stopped and fails"
    )

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'axle.db'}"

    @property
    def artifact_store_url(self) -> str:
        """The artifact store URL; the default layout path is absolute, as spokes need."""
        return self.artifact_store or f"file://{(self.data_dir / 'artifacts').resolve()}"

    @property
    def audit_path(self) -> Path:
        return self.audit_log or self.data_dir / "audit.log"
