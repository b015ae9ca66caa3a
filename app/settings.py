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

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "switchboard.db"

    @property
    def effective_log_format(self) -> LogFormat:
        """JSON in production (gcp), readable text on a laptop, unless set."""
        if self.log_format is not None:
            return self.log_format
        return LogFormat.JSON if self.backend is Backend.GCP else LogFormat.CONSOLE
