"""Schemathesis against the served `/openapi.json`: every operation, fuzzed over HTTP on
a real uvicorn server, answers without a 5xx and as its schema declares.

Runs twice: as an admin holding a valid token, with every webhook body signed under the
app secret so that the fuzz reaches past authentication into the parsers; and as a
stranger, so that it attacks the refusals. On the sqlite back end only, to stay fast:
the other e2e tests run the same routes on the gcp back end.

Schemathesis 4's `pytest.from_fixture` cannot run on pytest 9 (it writes
`Node._nodeid`, which pytest 9 no longer has), so each operation's Hypothesis
strategies are driven here directly, one subtest per operation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.prepare import get_exclude_headers

from adapters.sqlite.snapshots import SqliteSnapshotStore
from contracts.operators import Role
from contracts.streams import deadletter_stream
from contracts.topics import EVENTS_TOPIC
from ingress.app import create_app
from ingress.services import COMMANDS_TOPIC, INBOUND_TOPIC, IngressServices
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from projections.catalogue import OWNERS
from tests.backends import Backend
from tests.e2e.live_server import serving

SECRET = b"fuzz-app-secret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 50
OPERATIONS = 17
"""What the app serves today; a route added or lost must be seen here, not skipped."""
ENDLESS = {"GET /api/stream"}
"""Answers with a stream that does not end: fuzzed in tests/e2e/test_read_api.py."""

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Target:
    services: IngressServices
    base_url: str
    admin_token: str

    def operations(self) -> list[APIOperation[Any, Any, Any, Any]]:
        """Every operation of the schema the server serves, or the reason it is invalid."""
        schema = schemathesis.openapi.from_url(f"{self.base_url}/openapi.json")
        operations = []
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise result.err()
            if result.ok().label not in ENDLESS:
                operations.append(result.ok())
        return operations


@pytest.fixture
def target(backend: Backend) -> Iterator[Target]:
    store, bus = backend.event_store(), backend.bus()
    snapshots = SqliteSnapshotStore(backend.sqlite_path, OWNERS)
    for topic in (INBOUND_TOPIC, COMMANDS_TOPIC, EVENTS_TOPIC):
        bus.declare(topic)
    services = IngressServices(
        store=store, bus=bus, vault=backend.vault(), operators=backend.operators(),
        clock=lambda: datetime.now(UTC), whatsapp_verify_token="fuzz-verify",
        whatsapp_app_secret=SECRET, snapshots=snapshots,
    )  # fmt: skip
    with serving(create_app(services)) as base_url:
        yield Target(services, base_url, services.operators.add("fuzz-admin", Role.ADMIN))
    bus.close()
    snapshots.close()
    store.close()


def fuzz(operation: APIOperation[Any, Any, Any, Any], send: Callable[[Case[Any]], None]) -> None:
    """`send` each of a bounded number of cases, valid and invalid, for `operation`."""
    cases = st.one_of([operation.as_strategy(mode) for mode in GenerationMode])

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,  # one inner function serves every operation: nothing to replay
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(cases)
    def run(case: Case[Any]) -> None:
        send(case)

    run()


def fuzz_every_operation(
    target: Target, subtests: pytest.Subtests, send: Callable[[Case[Any]], None]
) -> None:
    operations = target.operations()
    assert len(operations) == OPERATIONS, [operation.label for operation in operations]
    for operation in operations:
        with subtests.test(operation.label):
            fuzz(operation, send)


def test_an_admin_gets_no_server_error(target: Target, subtests: pytest.Subtests) -> None:
    token = {"Authorization": f"Bearer {target.admin_token}"}

    def send(case: Case[Any]) -> None:
        if case.method.upper() == "POST" and case.path == PATH:
            send_signed(target, case, token)
        else:
            case.call_and_validate(headers=token, checks=CHECKS)

    fuzz_every_operation(target, subtests, send)


def test_a_stranger_gets_no_server_error(target: Target, subtests: pytest.Subtests) -> None:
    def send(case: Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS)

    fuzz_every_operation(target, subtests, send)


def send_signed(target: Target, case: Case[Any], token: dict[str, str]) -> None:
    """Post the generated body with Meta's signature over its exact bytes: whatever it
    holds, it is durable (published, or kept as a dead letter) and answered 200.

    The signature goes on the case itself: a case generated without the header would
    otherwise have it stripped from the request."""
    raw = wire_body(case)
    signed = {HEADER: signature_header(SECRET, raw)}
    case.headers.update(signed)
    answer = case.call_and_validate(headers={**token, **signed}, data=raw, checks=CHECKS)
    if HEADER.lower() in {name.lower() for name in get_exclude_headers(case)}:
        assert answer.status_code == 401, answer.text  # a negative case that drops the header
        return
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    if outcome["status"] == "published":
        return
    assert outcome["status"] == "kept_for_operators", outcome
    [kept] = target.services.store.read(deadletter_stream(hashlib.sha256(raw).hexdigest()))
    assert kept.event_id == outcome["event_id"]


def wire_body(case: Case[Any]) -> bytes:
    """The generated body as schemathesis would serialise it, as bytes to sign."""
    serialised = case.as_transport_kwargs()
    if "json" in serialised:
        return json.dumps(serialised["json"]).encode()
    data = serialised.get("data", b"")
    return data.encode() if isinstance(data, str) else bytes(data)
