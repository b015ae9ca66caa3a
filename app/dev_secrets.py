"""Secrets for the embedded sandbox, made on the first run so that `make run` works on a
fresh machine with nothing configured.

They live in `SWITCHBOARD_DATA_DIR/dev-secrets.json`, readable by the owner only. An
environment variable always wins over the file; on the gcp back end nothing is
invented: a missing secret is an error there.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from adapters.private_files import private_directory
from app.settings import Backend, Settings

FILE_NAME = "dev-secrets.json"


class MissingSecret(RuntimeError):
    """A secret the gcp back end needs is not configured."""


@dataclass(frozen=True)
class Secrets:
    whatsapp_verify_token: str
    whatsapp_app_secret: str
    pii_hash_key: str
    """base64 of 32 random bytes."""
    pii_encryption_keys: str
    """`key_id:base64(32 bytes)`, comma-separated; the first encrypts."""


def _generate() -> Secrets:
    def key() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    return Secrets(
        whatsapp_verify_token=secrets.token_urlsafe(24),
        whatsapp_app_secret=secrets.token_hex(32),
        pii_hash_key=key(),
        pii_encryption_keys=f"dev1:{key()}",
    )


def _load_or_create(data_dir: Path) -> Secrets:
    path = data_dir / FILE_NAME
    if path.exists():
        return Secrets(**json.loads(path.read_text()))
    private_directory(data_dir)
    made = _generate()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(asdict(made), out, indent=2)
    return made


def resolve_secrets(settings: Settings) -> Secrets:
    """The secrets in force: the environment's, completed on the embedded back end by
    the development file (created on first use)."""
    configured = {
        "whatsapp_verify_token": settings.whatsapp_verify_token,
        "whatsapp_app_secret": settings.whatsapp_app_secret,
        "pii_hash_key": settings.pii_hash_key,
        "pii_encryption_keys": settings.pii_encryption_keys,
    }
    given = {name: value.get_secret_value() for name, value in configured.items() if value}
    if len(given) == len(configured):
        return Secrets(**given)
    if settings.backend is Backend.GCP:
        missing = ", ".join(name.upper() for name in configured if name not in given)
        raise MissingSecret(f"the gcp back end needs {missing} in the environment")
    return Secrets(**{**asdict(_load_or_create(settings.data_dir)), **given})
