"""First-run secrets: made once, kept private, never overriding the environment, and
never invented for production."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.dev_secrets import FILE_NAME, MissingSecret, resolve_secrets
from app.settings import Settings


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.model_validate({"SWITCHBOARD_DATA_DIR": str(tmp_path), **env})


def test_the_first_embedded_run_makes_private_secrets_and_keeps_them(tmp_path: Path) -> None:
    first = resolve_secrets(settings(tmp_path))
    again = resolve_secrets(settings(tmp_path))

    assert first == again
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    assert first.pii_encryption_keys.startswith("dev1:")
    assert len({first.whatsapp_verify_token, first.whatsapp_app_secret}) == 2


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    resolve_secrets(settings(tmp_path))

    chosen = resolve_secrets(settings(tmp_path, WHATSAPP_APP_SECRET="from-env"))

    assert chosen.whatsapp_app_secret == "from-env"


def test_gcp_never_invents_a_secret(tmp_path: Path) -> None:
    with pytest.raises(MissingSecret, match="PII_HASH_KEY"):
        resolve_secrets(settings(tmp_path, SWITCHBOARD_BACKEND="gcp",
                                 WHATSAPP_VERIFY_TOKEN="t", WHATSAPP_APP_SECRET="s",
                                 PII_ENCRYPTION_KEYS="k1:AAAA"))  # fmt: skip
    assert not (tmp_path / FILE_NAME).exists()
