"""`switchboard serve`: the whole system in one process: the HTTP ingress and every
worker, on the embedded back end by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import uvicorn
from rich.console import Console

from app.bootstrap import (
    open_bus,
    open_event_store,
    open_operators,
    open_snapshots,
    open_vault,
    worker_services,
)
from app.dev_secrets import resolve_secrets
from app.runtime import declare_all, start_projector, start_workers
from app.settings import Settings
from app.telemetry import watch_dead_letters
from contracts.operators import Role
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from ingress.app import create_app
from ingress.services import IngressServices

console = Console()


def first_admin_token(operators: OperatorDirectory) -> str | None:
    """On a fresh installation, an admin so the newcomer can act at once."""
    if operators.list():
        return None
    return operators.add("admin", Role.ADMIN)


def _event_store_answers(store: EventStore) -> None:
    store.version("system")


def serve(settings: Settings, host: str, port: int, with_workers: bool = True) -> None:
    """The HTTP ingress, and (`switchboard serve`) every worker beside it; without them
    (`switchboard ingress`) what is accepted waits on the bus for workers elsewhere."""
    secrets = resolve_secrets(settings)
    store, bus, vault = open_event_store(settings), open_bus(settings), open_vault(settings)
    operators = open_operators(settings)
    clock = partial(datetime.now, UTC)
    snapshots = open_snapshots(settings)
    watch_dead_letters(bus)
    if with_workers:
        workers = worker_services(settings, store, bus, vault, snapshots)
        start_workers(workers, concurrency=settings.worker_concurrency)
        start_projector(store, bus, snapshots)
        doing = f"  responder: {workers.responder.name}; channel: {type(workers.channel).__name__}"
    else:  # no responder nor channel here: the ingress sends nothing
        declare_all(bus)
        doing = "  ingress only: run `switchboard worker` for the workers"
    services = IngressServices(
        store=store,
        bus=bus,
        vault=vault,
        operators=operators,
        clock=clock,
        whatsapp_verify_token=secrets.whatsapp_verify_token,
        whatsapp_app_secret=secrets.whatsapp_app_secret.encode(),
        ready_checks=(partial(_event_store_answers, store),),
        snapshots=snapshots,
        console_idle=timedelta(minutes=settings.console_idle_minutes),
    )
    base = f"http://{host}:{port}"
    token = first_admin_token(operators)
    console.print(f"[bold]Switchboard[/] on {base} ({settings.backend} back end)")
    if token:
        console.print(f"  admin token, shown once: [bold]{token}[/]")
    console.print(
        f"  operator console: {base}/console (sign in with an operator token)\n"
        f"  API and its docs: {base}/docs\n"
        f'  send a test message: switchboard simulate --from +5511999990001 --text "Olá"\n'
        f"  see what it produced: switchboard events stats\n{doing}"
    )
    try:
        # no access log: the verification GET carries hub.verify_token in its query string
        uvicorn.run(create_app(services), host=host, port=port, log_level="warning",
                    access_log=False)  # fmt: skip
    finally:
        bus.close()
        snapshots.close()
        store.close()
