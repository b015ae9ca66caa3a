"""The `switchboard` command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from adapters.private_files import too_open
from app.bootstrap import open_event_store
from app.cli_keys import keys_app
from app.cli_operators import operators_app
from app.cli_projections import projections_app, projector
from app.cli_simulate import simulate
from app.logging import configure_logging
from app.settings import Backend, Settings
from contracts.streams import stream_kind

app = typer.Typer(
    help="Switchboard: an event-sourced WhatsApp contact center core.", no_args_is_help=True
)
events_app = typer.Typer(help="Look at the event store.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(operators_app, name="operators")
app.add_typer(keys_app, name="keys")
app.add_typer(projections_app, name="projections")
app.command("projector")(projector)
app.command("simulate")(simulate)
console = Console()
log = structlog.get_logger(__name__)


@app.callback()
def setup() -> None:
    settings = Settings()
    configure_logging(settings.effective_log_format)
    if settings.backend is Backend.EMBEDDED:
        warn_if_too_open(settings.data_dir)


def warn_if_too_open(data_dir: Path) -> None:
    """The data directory holds conversations and sealed identities: say so when others
    than its owner may read it (files Switchboard creates are private already)."""
    for path, mode in too_open(data_dir):
        fix = "chmod 700" if path.is_dir() else "chmod 600"
        log.warning("data_file_too_open", path=str(path), mode=f"{mode:04o}", fix=f"{fix} {path}")


@events_app.command("show")
def events_show(
    stream_id: Annotated[str, typer.Argument(help="e.g. session-<id>, lead-<id>, system")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON envelope per line")] = False,
) -> None:
    """Print a stream's events in order."""
    store = open_event_store(Settings())
    try:
        events = store.read(stream_id)
    finally:
        store.close()
    if as_json:
        for event in events:
            typer.echo(event.model_dump_json())
        return
    if not events:
        console.print(f"stream [bold]{stream_id}[/] has no events")
        raise typer.Exit(1)
    table = Table(title=f"{stream_id} ({len(events)} events)")
    for column in ("v", "type", "occurred at", "actor", "correlation", "payload"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            str(event.version),
            f"{event.type} v{event.schema_version}",
            event.occurred_at.isoformat(timespec="seconds"),
            event.actor.value,
            event.correlation_id,
            json.dumps(event.payload, ensure_ascii=False),
        )
    console.print(table)


@events_app.command("streams")
def events_streams(
    kind: Annotated[
        str | None, typer.Argument(help="session, lead, command, contact, system, wamessage")
    ] = None,
) -> None:
    """List streams (of one kind) with their event counts and last event, walking the
    whole store: how to find a session's id before the read API."""
    store = open_event_store(Settings())
    last: dict[str, tuple[int, str]] = {}
    cursor: str | None = None
    try:
        while True:
            page = store.read_all(cursor)
            for event in page.events:
                if kind is None or stream_kind(event.stream_id) == kind:
                    last[event.stream_id] = (event.version, event.type)
            if page.cursor is None:
                break
            cursor = page.cursor
    finally:
        store.close()
    table = Table(title=f"{len(last)} streams")
    for column in ("stream", "events", "last event"):
        table.add_column(column, overflow="fold")
    for stream_id, (version, event_type) in sorted(last.items()):
        table.add_row(stream_id, str(version), event_type)
    console.print(table)


@events_app.command("stats")
def events_stats() -> None:
    """Count events by type and by stream kind, walking the whole store."""
    store = open_event_store(Settings())
    by_type: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    streams: dict[str, set[str]] = {}
    cursor: str | None = None
    try:
        while True:
            page = store.read_all(cursor)
            for event in page.events:
                by_type[event.type] += 1
                kind = stream_kind(event.stream_id)
                by_kind[kind] += 1
                streams.setdefault(kind, set()).add(event.stream_id)
            if page.cursor is None:
                break
            cursor = page.cursor
    finally:
        store.close()
    kinds = Table(title="by stream kind")
    for column in ("kind", "streams", "events"):
        kinds.add_column(column)
    for kind, count in by_kind.most_common():
        kinds.add_row(kind, str(len(streams[kind])), str(count))
    types = Table(title="by event type")
    types.add_column("type")
    types.add_column("events", justify="right")
    for event_type, count in by_type.most_common():
        types.add_row(event_type, str(count))
    console.print(kinds, types)
    console.print(f"{sum(by_type.values())} events in {sum(map(len, streams.values()))} streams")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Run Switchboard in one process (embedded back end by default)."""
    from app.serve import serve as run

    run(Settings(), host, port)


@app.command()
def ingress(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Run the HTTP ingress alone: the webhook and the operator API, no workers."""
    from app.serve import serve as run

    run(Settings(), host, port, with_workers=False)


@app.command()
def worker(
    kinds: Annotated[
        list[str] | None,
        typer.Argument(help="conversation, commands, sender (default: all three)"),
    ] = None,
) -> None:
    """Run workers without the HTTP ingress (to scale them out on gcp)."""
    from app.worker import run_workers

    run_workers(Settings(), kinds or [])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
