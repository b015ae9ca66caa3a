"""`switchboard worker`: workers without the HTTP ingress, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading

import structlog
import typer

from app.bootstrap import (
    open_bus,
    open_event_store,
    open_snapshots,
    open_vault,
    worker_services,
)
from app.runtime import WorkerKind, start_workers
from app.settings import Settings

log = structlog.get_logger(__name__)


def run_workers(settings: Settings, names: list[str]) -> None:
    try:
        kinds = [WorkerKind(name) for name in names] or list(WorkerKind)
    except ValueError:
        choices = ", ".join(kind.value for kind in WorkerKind)
        raise typer.BadParameter(f"unknown worker in {names}; choose from {choices}") from None
    store, bus = open_event_store(settings), open_bus(settings)
    snapshots = open_snapshots(settings)
    services = worker_services(settings, store, bus, open_vault(settings), snapshots)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    start_workers(services, kinds, settings.worker_concurrency)
    log.info("workers_started", kinds=[kind.value for kind in kinds])
    while not stop.wait(1):  # a timed wait lets the signal handlers run
        pass
    log.info("workers_stopping")
    bus.close()
    snapshots.close()
    store.close()
