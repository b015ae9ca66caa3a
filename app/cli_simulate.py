"""`switchboard simulate`: play Meta against a running server, for the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from adapters.whatsapp.sandbox import read_outbox
from app.dev_secrets import resolve_secrets
from app.settings import Settings
from ingress.samples import SampleKind, encode, sample
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH

console = Console()


def simulate(
    phone: Annotated[
        str, typer.Option("--from", help="the customer's number, e.g. +5511999990001")
    ] = "+5511999990001",
    text: Annotated[
        str, typer.Option(help="what the customer typed: text, caption, title, emoji...")
    ] = "Olá",
    kind: Annotated[SampleKind, typer.Option("--type", help="what to send")] = SampleKind.TEXT,
    user_id: Annotated[
        str | None, typer.Option(help="a business-scoped user id, e.g. BR.1549083310")
    ] = None,
    name: Annotated[str, typer.Option(help="the customer's WhatsApp profile name")] = "Ana Lima",
    no_phone: Annotated[
        bool, typer.Option("--no-phone", help="a user with a username: send no number")
    ] = False,
    url: Annotated[str, typer.Option(help="the server's base URL")] = "http://127.0.0.1:8000",
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="WHATSAPP_APP_SECRET",
            show_envvar=True,
            help="the app secret; by default the sandbox's (SWITCHBOARD_DATA_DIR)",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(help="seconds to wait for the bot's reply in the sandbox outbox (0: don't)"),
    ] = 5.0,
) -> None:
    """POST a correctly signed WhatsApp webhook, as Meta would, print the answer, and
    the bot's reply when the server sends through the sandbox channel."""
    if no_phone and not user_id:
        raise typer.BadParameter("--no-phone needs --user-id: a sender must be named")
    settings = Settings()
    app_secret = secret or resolve_secrets(settings).whatsapp_app_secret
    outbox = settings.sandbox_outbox_path
    already_sent = len(read_outbox(outbox))
    body = encode(sample(kind, phone=None if no_phone else phone, text=text, user_id=user_id,
                        name=name))  # fmt: skip
    headers = {
        "Content-Type": "application/json",
        HEADER: signature_header(app_secret.encode(), body),
    }
    try:
        response = httpx.post(url.rstrip("/") + PATH, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as error:
        console.print(f"[red]could not reach {url}[/]: {error}. Is `switchboard serve` running?")
        raise typer.Exit(2) from None
    colour = "green" if response.status_code == 200 else "red"
    console.print(f"[{colour}]{response.status_code}[/] {response.text}")
    if response.status_code != 200:
        raise typer.Exit(1)
    if wait > 0 and kind is not SampleKind.STATUS:
        _print_replies(outbox, already_sent, wait)


def _print_replies(outbox: Path, already_sent: int, wait: float) -> None:
    """What the sandbox channel sent after this message, once the bot has answered."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        new = read_outbox(outbox)[already_sent:]
        if new:
            for message in new:
                console.print(f"[cyan]→ sent:[/] {message.text}")
            return
        time.sleep(0.1)
    console.print(
        f"[yellow]no reply in {wait:g} s[/]: the bot may be waiting out a burst, or the "
        "conversation is taken over, paused or in cooldown (see `switchboard events`)"
    )
