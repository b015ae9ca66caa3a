"""`switchboard serve`: the whole system in one process.

Today that is the HTTP ingress; the workers and projectors join as they are built.
The subscriptions they will read are declared now, so every webhook and command
accepted in the meantime waits for them durably on the bus.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import uvicorn
from rich.console import Console

from app.bootstrap import open_bus, open_event_store, open_operators, open_vault
from app.dev_secrets import resolve_secrets
from app.settings import Settings
from contracts.operators import Role
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from ingress.app import create_app
from ingress.services import IngressServices

SUBSCRIPTIONS = {
    "inbound": "conversation-worker",
    "commands": "command-worker",
    "events": "projector",
}
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
    store, bus = open_event_store(settings), open_bus(settings)
    operators = open_operators(settings)
    for topic, subscription in SUBSCRIPTIONS.items():
        bus.declare(topic, subscription)
    services = IngressServices(
        store=store,
        bus=bus,
        vault=open_vault(settings),
        operators=operators,
        clock=lambda: datetime.now(UTC),
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
        "  not built yet: the conversation and command workers and the projectors; "
        "what arrives waits for them on the bus."
    )
    try:
        # no access log: the verification GET carries hub.verify_token in its query string
        uvicorn.run(create_app(services), host=host, port=port, log_level="warning",
                    access_log=False)  # fmt: skip
    finally:
        bus.close()
        store.close()
