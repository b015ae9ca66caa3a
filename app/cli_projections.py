"""`switchboard projector` and `switchboard projections rebuild|status`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.bootstrap import open_bus, open_event_store, open_snapshots
from app.runtime import start_projector
from app.settings import Settings
from projections.catalogue import UnknownProjection, by_name
from projections.projection import Projection
from projections.rebuild import rebuild
from projections.status import projection_status

projections_app = typer.Typer(help="Rebuild and inspect the snapshots.", no_args_is_help=True)
console = Console()
log = structlog.get_logger(__name__)

Names = Annotated[
    list[str] | None,
    typer.Option("--projection", "-p", help="only this projection (repeat for more)"),
]


def _chosen(names: list[str] | None) -> tuple[Projection, ...]:
    try:
        return by_name(names)
    except UnknownProjection as error:
        raise typer.BadParameter(str(error)) from None


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task = bar.add_task(label, total=None, rate="")

    def advance(done: int, total: int) -> None:
        elapsed = bar.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:,.0f} events/s" if elapsed > 0 else ""
        bar.update(task, completed=done, total=total, rate=rate)

    return bar, advance


@projections_app.command("rebuild")
def projections_rebuild(names: Names = None) -> None:
    """Replay every event into fresh collections, then switch reads to them at once.
    The system keeps serving (and projecting new events into both) meanwhile."""
    chosen = _chosen(names)
    settings = Settings()
    store, snapshots = open_event_store(settings), open_snapshots(settings)
    bar, advance = _progress("rebuilding")
    try:
        with bar:
            rebuilt = rebuild(store, snapshots, chosen, advance)
    finally:
        snapshots.close()
        store.close()
    generations = ", ".join(f"{name} → g{g}" for name, g in rebuilt.generations.items())
    console.print(f"replayed {rebuilt.events:,} events; now serving {generations}")


@projections_app.command("status")
def projections_status(names: Names = None) -> None:
    """Each projection's generation, position and lag (events not yet applied)."""
    chosen = _chosen(names)
    settings = Settings()
    store, snapshots = open_event_store(settings), open_snapshots(settings)
    bar, advance = _progress("reading")
    try:
        with bar:
            found = projection_status(store, snapshots, chosen, advance)
    finally:
        snapshots.close()
        store.close()
    table = Table(title="projections")
    for column in ("projection", "generation", "rebuilding", "streams", "applied", "behind"):
        table.add_column(column, justify="left" if column == "projection" else "right")
    for status in found:
        table.add_row(
            status.name, f"g{status.active}", f"g{status.building}" if status.building else "",
            f"{status.streams:,}", f"{status.applied:,}", f"{status.behind:,}",
        )  # fmt: skip
    console.print(table)
    for status in found:
        if status.lagging_streams:
            console.print(f"{status.name} behind on: {', '.join(status.lagging_streams)}")


def projector() -> None:
    """Run the live projector alone (topic events), until SIGINT or SIGTERM."""
    settings = Settings()
    store, bus, snapshots = open_event_store(settings), open_bus(settings), open_snapshots(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    start_projector(store, bus, snapshots)
    log.info("projector_started")
    while not stop.wait(1):
        pass
    bus.close()
    snapshots.close()
    store.close()
