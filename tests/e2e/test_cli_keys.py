"""`switchboard keys` against a real embedded vault."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.crypto.hashing import parse_hash_key
from adapters.crypto.keyring import Keyring
from adapters.sqlite.vault import SqliteVault
from app.bootstrap import open_vault
from app.cli import app
from app.dev_secrets import MissingSecret
from app.settings import Settings
from contracts.ports.vault import ContactIdentity
from tests.backends import VAULT_HASH_KEY, VAULT_KEYS, number_in

runner = CliRunner()
NEWEST_KEY, OLDER_KEY = VAULT_KEYS.split(",")
HASH_KEY_SETTING = base64.b64encode(VAULT_HASH_KEY).decode()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_BACKEND", "embedded")
    for name in ("PII_HASH_KEY", "PII_ENCRYPTION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def vault(data_dir: Path, keys: str) -> SqliteVault:
    return SqliteVault(data_dir / "switchboard.db", VAULT_HASH_KEY, Keyring.parse(keys))


def test_generate_prints_settings_that_parse(data_dir: Path) -> None:
    result = runner.invoke(app, ["keys", "generate", "--key-id", "k9"])

    assert result.exit_code == 0, result.output
    entry, hash_line = result.stdout.splitlines()
    assert Keyring.parse(entry).key_ids == ("k9",)
    assert len(parse_hash_key(hash_line.removeprefix("PII_HASH_KEY="))) == 32
    assert "new installation only" in result.stderr


def test_generate_prepends_the_new_key_to_the_configured_ones(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", VAULT_KEYS)

    result = runner.invoke(app, ["keys", "generate", "--key-id", "k3"])

    assert result.exit_code == 0, result.output
    setting = result.stdout.splitlines()[1].removeprefix("PII_ENCRYPTION_KEYS=")
    assert Keyring.parse(setting).key_ids == ("k3", "k2", "k1")


def test_generate_refuses_a_key_id_in_use(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", VAULT_KEYS)

    result = runner.invoke(app, ["keys", "generate", "--key-id", "k1"])

    assert result.exit_code == 2
    assert "already in PII_ENCRYPTION_KEYS" in result.stderr
    assert result.stdout == ""


def test_rotate_reencrypts_under_the_newest_key_and_reports(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = vault(data_dir, OLDER_KEY)
    numbers = ["+5511999990001", "+5521988887777", "+14155552671"]
    hashes = [older.remember(ContactIdentity(e164=number)) for number in numbers]
    older.close()
    monkeypatch.setenv("PII_HASH_KEY", HASH_KEY_SETTING)
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", VAULT_KEYS)

    result = runner.invoke(app, ["keys", "rotate"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "3 entries: 3 re-encrypted, 0 already under 'k2', 0 unreadable"
    newest_only = vault(data_dir, NEWEST_KEY)
    assert [number_in(newest_only, from_hash) for from_hash in hashes] == numbers
    again = runner.invoke(app, ["keys", "rotate"])
    assert again.stdout.strip() == "3 entries: 0 re-encrypted, 3 already under 'k2', 0 unreadable"


def test_rotate_exits_1_when_entries_cannot_be_read(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = vault(data_dir, OLDER_KEY)
    older.remember(ContactIdentity(e164="+5511999990001"))
    older.close()
    monkeypatch.setenv("PII_HASH_KEY", HASH_KEY_SETTING)
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", NEWEST_KEY)

    result = runner.invoke(app, ["keys", "rotate"])

    assert result.exit_code == 1
    assert "1 unreadable" in result.stdout
    assert "Put the missing key back" in " ".join(result.stderr.split())


def test_rotate_refuses_a_malformed_setting(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PII_HASH_KEY", HASH_KEY_SETTING)
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", "k1:short")

    result = runner.invoke(app, ["keys", "rotate"])

    assert result.exit_code == 2
    assert "'k1'" in result.stderr


# -- open_vault --------------------------------------------------------------------


def test_the_embedded_back_end_makes_development_keys_once(data_dir: Path) -> None:
    first = open_vault(Settings())
    from_hash = first.contact_hash("+5511999990001")
    first.remember(ContactIdentity(e164="+5511999990001"))

    second = open_vault(Settings())

    assert second.contact_hash("+5511999990001") == from_hash
    assert number_in(second, from_hash) == "+5511999990001"
    secrets_files = [path for path in data_dir.iterdir() if path.suffix == ".json"]
    assert secrets_files
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in secrets_files)


def test_the_gcp_back_end_never_invents_keys(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_BACKEND", "gcp")
    monkeypatch.setenv("PII_ENCRYPTION_KEYS", VAULT_KEYS)

    with pytest.raises(MissingSecret, match="needs PII_HASH_KEY in the environment"):
        open_vault(Settings())
    assert list(data_dir.iterdir()) == []
