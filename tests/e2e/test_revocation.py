"""Revoking an operator ends what their token opened: a live stream stops within
seconds, and the token opens nothing again. On a real server, on every back end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from contracts.operators import Role
from contracts.ports.operators import OperatorDirectory
from ingress.app import create_app
from ingress.live import REVALIDATE_S
from ingress.services import IngressServices
from tests.backends import Backend
from tests.e2e.live_server import serving
from tests.e2e.reading_helpers import open_snapshots


@dataclass(frozen=True)
class Server:
    base_url: str
    operators: OperatorDirectory


@pytest.fixture
def server(backend: Backend) -> Iterator[Server]:
    store, bus, snapshots = backend.event_store(), backend.bus(), open_snapshots(backend)
    operators = backend.operators()
    services = IngressServices(
        store=store, bus=bus, vault=backend.vault(), operators=operators,
        clock=lambda: datetime.now(UTC), whatsapp_verify_token="v",
        whatsapp_app_secret=b"s", snapshots=snapshots,
    )  # fmt: skip
    with serving(create_app(services)) as base_url:
        yield Server(base_url, operators)
    bus.close()
    snapshots.close()
    store.close()


def test_a_revoked_token_loses_its_open_stream_within_seconds(server: Server) -> None:
    token = server.operators.add("bruno", Role.OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    received: list[str] = []
    opened, ended = threading.Event(), threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=server.base_url, timeout=60) as http,
            http.stream("GET", "/api/stream", headers=headers) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                received.append(line)
                opened.set()
        ended.set()

    threading.Thread(target=listen, daemon=True).start()
    assert opened.wait(10), "the stream did not open"
    time.sleep(REVALIDATE_S + 0.5)
    assert not ended.is_set(), "the stream ended while its token was valid"
    revoked_at = time.monotonic()
    server.operators.revoke("bruno")
    assert ended.wait(REVALIDATE_S * 2 + 3), "the stream outlived its token's revocation"
    assert time.monotonic() - revoked_at <= REVALIDATE_S * 2 + 3
    assert "event: revoked" in received
    again = httpx.get(f"{server.base_url}/api/stream", headers=headers, timeout=10)
    assert again.status_code == 401
