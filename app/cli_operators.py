"""`switchboard operators`: who may use the operator API, and with which role.

`add` prints the token alone on stdout (so `TOKEN=$(switchboard operators add ...)`
works) and everything else on stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.credentials import InvalidOperatorName
from app.bootstrap import open_operators
from app.settings import Settings
from contracts.operators import Role
from contracts.ports.operators import OperatorExists, UnknownOperator

operators_app = typer.Typer(help="Manage operators and their API tokens.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal the user can act on becomes its message and exit code 1."""
    try:
        yield
    except (OperatorExists, UnknownOperator, InvalidOperatorName) as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        raise typer.Exit(1) from None


@operators_app.command("add")
def operators_add(
    name: Annotated[str, typer.Argument(help="1-64 letters, digits and . _ - @")],
    role: Annotated[Role, typer.Option(help="admins may also pause, forget, reveal")] = (
        Role.OPERATOR
    ),
) -> None:
    """Add an operator and print their API token, once."""
    with _refusals():
        token = open_operators(Settings()).add(name, role)
    errors.print(
        f"Added {role.value} [bold]{name}[/]. Their token is below; it will [bold]not[/] be "
        "shown again, so hand it over now (revoke and add again if it is lost):"
    )
    typer.echo(token)


@operators_app.command("list")
def operators_list() -> None:
    """List every operator, revoked ones included (never their tokens)."""
    operators = open_operators(Settings()).list()
    if not operators:
        console.print("no operators yet; add one with: switchboard operators add NAME")
        return
    table = Table(title=f"{len(operators)} operators")
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for operator in operators:
        table.add_row(
            operator.name,
            operator.role.value,
            _when(operator.created_at),
            _when(operator.revoked_at) if operator.revoked_at else "",
        )
    console.print(table)


@operators_app.command("revoke")
def operators_revoke(name: Annotated[str, typer.Argument(help="the operator to revoke")]) -> None:
    """Revoke an operator's token at once; the name may be added again later."""
    with _refusals():
        operator = open_operators(Settings()).revoke(name)
    console.print(f"revoked [bold]{operator.name}[/]; their token no longer works")


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")
