"""`switchboard keys`: make keys for the PII vault, and rotate its entries to the newest.

The rotation procedure (docs/privacy.md): `keys generate`, put the new entry first in
`PII_ENCRYPTION_KEYS` everywhere, `keys rotate`, then drop the old key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.crypto.hashing import generate_hash_key
from adapters.crypto.key_encoding import InvalidKeySetting
from adapters.crypto.keyring import Keyring
from adapters.crypto.rotation import RotationContended
from app.bootstrap import open_vault, vault_keys
from app.dev_secrets import MissingSecret
from app.settings import Settings
from contracts.ports.vault import RotationReport

keys_app = typer.Typer(help="Keys of the PII vault: generate, rotate.", no_args_is_help=True)
console = Console(stderr=True)


@keys_app.command("generate")
def keys_generate(
    key_id: Annotated[
        str | None, typer.Option(help="id of the new encryption key [default: kYYYYMMDD]")
    ] = None,
) -> None:
    """Print a fresh PII_ENCRYPTION_KEYS entry and a fresh PII_HASH_KEY.

    Secrets go to standard output, one per line, the explanations to standard error."""
    key_id = key_id or datetime.now(UTC).strftime("k%Y%m%d")
    configured = Settings().pii_encryption_keys
    current = configured.get_secret_value() if configured is not None else None
    try:
        entry = Keyring.generate(key_id).format()
        if current is not None and key_id in Keyring.parse(current).key_ids:
            raise InvalidKeySetting(f"key id {key_id!r} is already in PII_ENCRYPTION_KEYS")
    except InvalidKeySetting as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    console.print(
        "A new encryption key. Put it first in PII_ENCRYPTION_KEYS, keep the old keys after "
        "it, deploy, then run `switchboard keys rotate`:"
    )
    typer.echo(entry)
    if current is not None:
        console.print("The whole setting, with the keys configured now:")
        typer.echo(f"PII_ENCRYPTION_KEYS={entry},{current}")
    console.print(
        "A hash key, for a [bold]new installation only[/]: changing PII_HASH_KEY changes "
        "every contact's from_hash, so existing contacts would no longer be recognised:"
    )
    typer.echo(f"PII_HASH_KEY={generate_hash_key()}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every vault entry under the newest key of PII_ENCRYPTION_KEYS.

    Safe to run again, and while Switchboard runs: a contact written meanwhile keeps
    its newer entry. Exits 1 if some entries could not be read."""
    settings = Settings()
    try:
        newest = Keyring.parse(vault_keys(settings)[1]).newest_key_id
        vault = open_vault(settings)
    except (InvalidKeySetting, MissingSecret) as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    columns = (
        TextColumn("re-encrypting under {task.fields[key]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("rotate", total=None, key=newest)
            report = vault.rotate(lambda done, total: bar.update(task, completed=done, total=total))
    except RotationContended as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    finally:
        close = getattr(vault, "close", None)  # the Vault port has no close; adapters do
        if callable(close):
            close()
    _print_report(report, newest)
    if report.unreadable:
        raise typer.Exit(1)


def _print_report(report: RotationReport, newest: str) -> None:
    typer.echo(
        f"{report.total} entries: {report.reencrypted} re-encrypted, "
        f"{report.already_current} already under {newest!r}, {report.unreadable} unreadable"
    )
    if report.unreadable:
        console.print(
            f"[yellow]{report.unreadable} entries could not be opened (their key is no longer "
            "in PII_ENCRYPTION_KEYS, or they were altered) and were left as they are; the log "
            "names their from_hash. Put the missing key back and rotate again, or forget them.[/]"
        )
