"""`switchboard serve`: the whole system in one process: the HTTP ingress and every
worker, on the embedded back end by default."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import uvicorn
from rich.console import Console

from app.bootstrap import (
    conversation_policy,
    open_bus,
    open_channel,
    open_event_store,
    open_operators,
    open_responder,
    open_vault,
)
from app.dev_secrets import resolve_secrets
from app.runtime import start_workers
from app.settings import Settings
from contracts.operators import Role
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from ingress.app import create_app
from ingress.services import IngressServices
from workers.services import WorkerServices

console = Console()


def first_admin_token(operators: OperatorDirectory) -> str | None:
    """On a fresh installation, an admin so the newcomer can act at once."""
    if operators.list():
        return None
    return operators.add("admin", Role.ADMIN)


def _event_store_answers(store: EventStore) -> None:
    store.version("system")


def serve(settings: Settings, host: str, port: int) -> None:
    secrets = resolve_secrets(settings)
    store, bus, vault = open_event_store(settings), open_bus(settings), open_vault(settings)
    operators = open_operators(settings)
    clock = partial(datetime.now, UTC)
    workers = WorkerServices(
        store=store,
        bus=bus,
        vault=vault,
        responder=open_responder(settings),
        channel=open_channel(settings),
        clock=clock,
        policy=conversation_policy(settings),
        default_line=settings.whatsapp_phone_number_id,
    )
    start_workers(workers, concurrency=settings.worker_concurrency)
    services = IngressServices(
        store=store,
        bus=bus,
        vault=vault,
        operators=operators,
        clock=clock,
        whatsapp_verify_token=secrets.whatsapp_verify_token,
        whatsapp_app_secret=secrets.whatsapp_app_secret.encode(),
        ready_checks=(partial(_event_store_answers, store),),
    )
    base = f"http://{host}:{port}"
    token = first_admin_token(operators)
    console.print(f"[bold]Switchboard[/] on {base} ({settings.backend} back end)")
    if token:
        console.print(f"  admin token, shown once: [bold]{token}[/]")
    console.print(
        f"  API and its docs: {base}/docs\n"
        f'  send a test message: switchboard simulate --from +5511999990001 --text "Olá"\n'
        f"  see what it produced: switchboard events stats\n"
        f"  responder: {workers.responder.name}; channel: {type(workers.channel).__name__}"
    )
    try:
        # no access log: the verification GET carries hub.verify_token in its query string
        uvicorn.run(create_app(services), host=host, port=port, log_level="warning",
                    access_log=False)  # fmt: skip
    finally:
        bus.close()
        store.close()
