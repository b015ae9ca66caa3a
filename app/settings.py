"""Configuration, from the environment only (12-factor)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Backend(StrEnum):
    EMBEDDED = "embedded"
    GCP = "gcp"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class ResponderKind(StrEnum):
    RULES = "rules"
    OPENAI = "openai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, populate_by_name=True)

    backend: Backend = Field(Backend.EMBEDDED, validation_alias="SWITCHBOARD_BACKEND")
    data_dir: Path = Field(Path("var"), validation_alias="SWITCHBOARD_DATA_DIR")
    gcp_project: str = Field("switchboard-dev", validation_alias="GCP_PROJECT")
    pubsub_emulator_host: str | None = Field(None, validation_alias="PUBSUB_EMULATOR_HOST")
    firestore_emulator_host: str | None = Field(None, validation_alias="FIRESTORE_EMULATOR_HOST")
    log_format: LogFormat | None = Field(None, validation_alias="SWITCHBOARD_LOG_FORMAT")
    bus_ack_deadline_s: int = Field(30, ge=10, le=600, validation_alias="BUS_ACK_DEADLINE_S")
    bus_max_delivery_attempts: int = Field(
        5, ge=5, le=100, validation_alias="BUS_MAX_DELIVERY_ATTEMPTS"
    )

    whatsapp_verify_token: SecretStr | None = Field(None, validation_alias="WHATSAPP_VERIFY_TOKEN")
    whatsapp_app_secret: SecretStr | None = Field(None, validation_alias="WHATSAPP_APP_SECRET")
    pii_hash_key: SecretStr | None = Field(None, validation_alias="PII_HASH_KEY")
    pii_encryption_keys: SecretStr | None = Field(None, validation_alias="PII_ENCRYPTION_KEYS")
    """Comma-separated `key_id:base64(32 bytes)`; the first encrypts, all decrypt."""

    responder: ResponderKind = Field(ResponderKind.RULES, validation_alias="RESPONDER")
    llm_base_url: str = Field("https://api.openai.com/v1", validation_alias="LLM_BASE_URL")
    llm_api_key: SecretStr | None = Field(None, validation_alias="LLM_API_KEY")
    llm_model: str = Field("gpt-4o-mini", validation_alias="LLM_MODEL")
    llm_timeout_s: float = Field(20, gt=0, le=300, validation_alias="LLM_TIMEOUT_S")
    llm_max_attempts: int = Field(3, ge=1, le=10, validation_alias="LLM_MAX_ATTEMPTS")

    whatsapp_access_token: SecretStr | None = Field(None, validation_alias="WHATSAPP_ACCESS_TOKEN")
    whatsapp_phone_number_id: str | None = Field(None, validation_alias="WHATSAPP_PHONE_NUMBER_ID")
    """The business line to write from when a session's first message did not name one."""
    whatsapp_api_base: str = Field(
        "https://graph.facebook.com", validation_alias="WHATSAPP_API_BASE"
    )
    whatsapp_api_version: str = Field("v23.0", validation_alias="WHATSAPP_API_VERSION")

    lead_confidence_threshold: float = Field(
        0.8, ge=0, le=1, validation_alias="LEAD_CONFIDENCE_THRESHOLD"
    )
    session_ttl_hours: float = Field(24, gt=0, validation_alias="SESSION_TTL_HOURS")
    reply_debounce_ms: int = Field(1500, ge=0, le=60_000, validation_alias="REPLY_DEBOUNCE_MS")
    flood_window_s: int = Field(60, ge=1, le=3600, validation_alias="FLOOD_WINDOW_S")
    flood_light_score: float = Field(8, gt=0, validation_alias="FLOOD_LIGHT_SCORE")
    flood_medium_score: float = Field(15, gt=0, validation_alias="FLOOD_MEDIUM_SCORE")
    flood_heavy_score: float = Field(30, gt=0, validation_alias="FLOOD_HEAVY_SCORE")
    status_link_grace_s: float = Field(20, gt=0, le=600, validation_alias="STATUS_LINK_GRACE_S")
    """How long a delivery status waits for the send it reports on to be recorded;
    after it, the status is taken as one of a message Switchboard did not send."""
    console_idle_minutes: float = Field(
        30, gt=0, le=24 * 60, validation_alias="CONSOLE_IDLE_MINUTES"
    )
    """A console session unused for this long is over: sign in again."""
    worker_concurrency: int = Field(128, ge=1, le=1024, validation_alias="WORKER_CONCURRENCY")
    """Messages the conversation worker holds at once (each waits out its burst)."""

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "switchboard.db"

    @property
    def sandbox_outbox_path(self) -> Path:
        return self.data_dir / "sandbox-outbox.jsonl"

    @property
    def effective_log_format(self) -> LogFormat:
        """JSON in production (gcp), readable text on a laptop, unless set."""
        if self.log_format is not None:
            return self.log_format
        return LogFormat.JSON if self.backend is Backend.GCP else LogFormat.CONSOLE
