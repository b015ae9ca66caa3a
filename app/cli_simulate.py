"""`switchboard simulate`: play Meta against a running server, for the sandbox."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.console import Console

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
) -> None:
    """POST a correctly signed WhatsApp webhook, as Meta would, and print the answer."""
    if no_phone and not user_id:
        raise typer.BadParameter("--no-phone needs --user-id: a sender must be named")
    app_secret = secret or resolve_secrets(Settings()).whatsapp_app_secret
    body = encode(sample(kind, phone=None if no_phone else phone, text=text, user_id=user_id))
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
