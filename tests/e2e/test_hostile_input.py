"""Hostile values in every part of every request, on a real server, on every back end:
never a 5xx, never a traceback in the answer or the log, and a refused request writes
nothing.

The schemathesis fuzz (test_openapi_fuzz.py) generates values its schemas allow; the
values that broke the API were the ones JSON parsers and URL decoders let through:
`NaN`, `1e400`, escaped lone surrogates, integers past 64 bits, deep nesting, encoded
path segments, NUL bytes. Each case here puts one such value in one place (a path
parameter, a query parameter, a header, a field of a valid body, the whole body) of
one operation, drawn by Hypothesis. Operations come from the served OpenAPI schema,
so a route added later is attacked too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.operators import Role
from contracts.ports.eventstore import EventStore
from contracts.topics import EVENTS_TOPIC
from ingress import samples
from ingress.app import create_app
from ingress.services import COMMANDS_TOPIC, INBOUND_TOPIC, IngressServices
from ingress.signature import HEADER, signature_header
from ingress.strict_input import MAX_BODY_BYTES
from ingress.webhook import PATH as WEBHOOK
from tests.backends import Backend
from tests.e2e.live_server import serving
from tests.e2e.reading_helpers import open_snapshots

SECRET = b"hostile-app-secret"
PLACEHOLDER = "\x00HOSTILE\x00"
ENDLESS = {("GET", "/api/stream")}
"""Streams answer and never end: attacked on its own below."""

NUMBERS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", str(2**63),
           str(2**70), "-" + str(2**64), "1" + "0" * 5000, "1.0", "-1", "0"]  # fmt: skip
LITERALS = ["true", "false", "null", '"1"', '""', "[]", "{}", '{"a": NaN}', "[1e999]"]
TEXTS = [r'"\ud800"', r'"\udfff"', r'"a\ud83db"', r'"\udc00\ud800"', r'"\u0000"',
         '"../../etc/passwd"', '"%2e%2e%2f"', '"\u202eevil"', '"' + "x" * 70_000 + '"']  # fmt: skip
DEEP = ["[" * 100 + "]" * 100, "[" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000]
JSON_VALUES = st.sampled_from(NUMBERS + LITERALS + TEXTS + DEEP) | st.integers(
    min_value=2**63, max_value=2**90
).map(str)
"""Raw JSON text: what a client can send that `json.dumps` would never write."""

URL_VALUES = st.sampled_from(
    ["%2e%2e", "%2e", "..%2f..", "%2f", "%00", "a%00b", "%ED%A0%80", "%C0%AE", "%FF", "__x__",
     "NaN", "1e400", "-1", str(2**70), "%25", "%5Cu0000", "a" * 5000, "%0d%0aX:1", "~", "+"]
)  # fmt: skip
"""Already percent-encoded: sent on the wire as they are."""

HEADER_VALUES = st.sampled_from(
    ["NaN", "1e400|a|b", "9999-99-99T00:00:00|x|y", "||", "..|..|..", "a" * 400, "\t", "x|y"]
)

SESSION_COMMANDS: dict[str, dict[str, Any]] = {
    "TAKEOVER": {"reason": "r", "expected_control_version": 0},
    "RELEASE": {"reason": "r", "expected_control_version": 0},
    "CLOSE": {"reason": "r", "outcome": "QUALIFIED", "note": "n", "reopen_cooldown_minutes": 5},
    "MARK_READY_FOR_HUMAN": {"reason": "r", "priority": "HIGH"},
    "SEND_MESSAGE": {"text": "t", "reason": "r", "expected_control_version": 0},
    "ADD_NOTE": {"text": "t"},
}
COMMANDS = [
    *({"type": kind, "target_session_id": "s-1", **fields}
      for kind, fields in SESSION_COMMANDS.items()),
    {"type": "PAUSE_ALL", "reason": "r", "expected_control_version": 0},
    {"type": "RESUME_ALL", "reason": "r"},
    {"type": "FORGET_CONTACT", "lead_id": "l-1", "reason": "r"},
]  # fmt: skip
"""One valid body per command type; a case spoils one of its fields."""


@dataclass
class Captured(logging.Handler):
    """Every log record that carries an exception or is an error."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __hash__(self) -> int:
        return id(self)


@dataclass(frozen=True)
class Target:
    http: httpx.Client
    store: EventStore
    token: str
    operations: list[tuple[str, str, dict[str, Any]]]
    """(method, path, OpenAPI operation) of every operation served."""


@pytest.fixture
def target(backend: Backend) -> Iterator[Target]:
    store, bus, snapshots = backend.event_store(), backend.bus(), open_snapshots(backend)
    for topic in (INBOUND_TOPIC, COMMANDS_TOPIC, EVENTS_TOPIC):
        bus.declare(topic)
    services = IngressServices(
        store=store, bus=bus, vault=backend.vault(), operators=backend.operators(),
        clock=lambda: datetime.now(UTC), whatsapp_verify_token="hostile-verify",
        whatsapp_app_secret=SECRET, snapshots=snapshots,
    )  # fmt: skip
    app = create_app(services)
    operations = [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]
    with serving(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        yield Target(http, store, services.operators.add("ana", Role.ADMIN), operations)
    bus.close()
    snapshots.close()
    store.close()


@pytest.fixture
def log_errors() -> Iterator[Captured]:
    captured = Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    yield captured
    root.removeHandler(captured)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None

    def describe(self) -> str:
        shown = (self.body or b"")[:200]
        return f"{self.method} {self.url[:200]} headers={list(self.headers)} body={shown!r}"


def spoil(document: Any, value: str, key: str | None) -> bytes:
    """`document` as JSON with the value of `key` (a new key when it has none) replaced
    by the raw JSON text `value`; the whole body when `key` is None."""
    if key is None:
        return value.encode("utf-8", "surrogatepass")
    text = json.dumps({**document, key: PLACEHOLDER})
    return text.replace(json.dumps(PLACEHOLDER), value).encode("utf-8", "surrogatepass")


@st.composite
def hostile_requests(draw: st.DrawFn, method: str, path: str, operation: dict[str, Any]) -> Request:
    parameters = operation.get("parameters", [])
    url = path
    for parameter in parameters:
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", "s-1")
    places = [(p["in"], p["name"]) for p in parameters if p["in"] in ("path", "query", "header")]
    has_body = "requestBody" in operation
    if has_body:
        places += [("body", "field"), ("body", "whole")]
    where, name = draw(st.sampled_from(places)) if places else ("query", "unexpected")
    query, headers, body = "", {"Content-Type": "application/json"}, None
    if where == "path":
        template = path
        for parameter in parameters:
            value = draw(URL_VALUES) if parameter["name"] == name else "s-1"
            template = template.replace("{" + parameter["name"] + "}", value)
        url = template
    elif where == "query":
        query = f"?{quote(name)}={draw(URL_VALUES)}"
    elif where == "header" and name != HEADER:
        headers[name] = draw(HEADER_VALUES)
    if has_body:
        base: dict[str, Any] = {"reason": "r"}
        if path == "/api/commands":
            base = draw(st.sampled_from(COMMANDS))
        elif path == WEBHOOK:
            base = samples.sample(samples.SampleKind.TEXT, phone="+5511999990001", text="oi")
        key = None if name == "whole" else draw(st.sampled_from([*base, "unknown_field"]))
        body = spoil(base, draw(JSON_VALUES), key if where == "body" else "unknown_field")
        if path == WEBHOOK:
            headers[HEADER] = signature_header(SECRET, body)
    return Request(method, url + query, headers, body)


def send(target: Target, request: Request) -> httpx.Response:
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json",
               **request.headers}  # fmt: skip
    return target.http.request(
        request.method, request.url, headers=headers, content=request.body,
        extensions={"timeout": {"read": 60}},
    )  # fmt: skip


def test_every_operation_is_attacked(target: Target) -> None:
    """The schema lists what is attacked: a route that left it would escape the test."""
    served = {(method, path) for method, path, _ in target.operations}
    assert len(served) == 18, sorted(served)
    assert served >= ENDLESS


@pytest.mark.parametrize("index", range(17))
def test_hostile_values_never_make_a_server_error(
    target: Target, log_errors: Captured, index: int
) -> None:
    operations = sorted(
        (op for op in target.operations if (op[0], op[1]) not in ENDLESS),
        key=lambda op: (op[1], op[0]),
    )
    if index >= len(operations):
        pytest.skip("fewer operations than slots: the count is pinned above")
    method, path, operation = operations[index]

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(hostile_requests(method, path, operation))
    def attack(request: Request) -> None:
        before = target.store.count() if method == "POST" else 0
        answer = send(target, request)
        assert answer.status_code < 500, (request.describe(), answer.text[:500])
        assert "Traceback" not in answer.text, request.describe()
        assert not log_errors.records, (request.describe(), log_errors.records[0].getMessage())
        if method == "POST" and answer.status_code >= 400 and path != WEBHOOK:
            assert target.store.count() == before, ("written though refused", request.describe())
        if answer.status_code == 422:
            assert len(answer.content) < 4096, "a refusal does not echo its input"

    attack()


@pytest.mark.parametrize(
    "body",
    [
        '{"type":"TAKEOVER","target_session_id":"s-1","reason":"x","expected_control_version":NaN}',
        '{"type":"TAKEOVER","target_session_id":"s-1","reason":"x",'
        '"expected_control_version":1e400}',
        r'{"type":"ADD_NOTE","target_session_id":"s-1","text":"\ud800"}',
        r'{"type":"SEND_MESSAGE","target_session_id":"s-1","text":"\ud800"}',
        r'{"type":"TAKEOVER","target_session_id":"s-1","reason":"\ud800"}',
    ],
)
def test_the_reported_bodies_are_refused_with_a_reason(target: Target, body: str) -> None:
    before = target.store.count()
    answer = send(target, Request("POST", "/api/commands", {}, body.encode()))
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["type"] == "json_invalid"
    assert "NaN" in problem["msg"] or "finite" in problem["msg"] or "surrogate" in problem["msg"]
    assert target.store.count() == before


@pytest.mark.parametrize("version", ['"1"', "true", "1.0", str(2**70), str(2**63), "-1"])
def test_a_control_version_is_a_json_integer_in_the_stores_range(
    target: Target, version: str
) -> None:
    body = '{"type":"TAKEOVER","target_session_id":"s-1","reason":"x","expected_control_version":'
    answer = send(target, Request("POST", "/api/commands", {}, f"{body}{version}}}".encode()))
    assert answer.status_code == 422, answer.text
    assert [p["loc"][-1] for p in answer.json()["detail"]] == ["expected_control_version"]


def test_the_largest_control_version_is_accepted(target: Target) -> None:
    body = '{"type":"TAKEOVER","target_session_id":"s-1","reason":"x","expected_control_version":'
    answer = send(target, Request("POST", "/api/commands", {}, f"{body}{2**63 - 1}}}".encode()))
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    "path",
    ["/api/sessions/%2e%2e", "/api/sessions/%2e", "/api/leads/%2e%2e", "/api/commands/%2E%2e",
     "/api/sessions/__x__/messages", "/api/leads/%2e%2e/reveal-phone"],
)  # fmt: skip
def test_a_path_segment_that_names_no_document_is_refused(target: Target, path: str) -> None:
    method = "POST" if path.endswith("reveal-phone") else "GET"
    answer = send(target, Request(method, path, {}, b'{"reason": "r"}'))
    assert answer.status_code == 422, answer.text
    assert "id cannot be" in answer.text


def test_a_cursor_holding_a_lone_surrogate_is_refused(target: Target) -> None:
    cursor = quote(r'{"order_by":"updated_at","after":["\ud800","x"]}')
    answer = send(target, Request("GET", f"/api/sessions?cursor={cursor}", {}))
    assert answer.status_code == 400, answer.text
    assert "\\ud800" not in answer.text


def test_the_stream_refuses_hostile_values(target: Target, log_errors: Captured) -> None:
    """The one endless route: each hostile request must be refused before it streams."""
    for query, header in [
        ("?session_id=%2e%2e", None), ("?session_id=%00", None), ("?session_id=%ED%A0%80", None),
        ("", "NaN|a|b"), ("", "1e400|sessions|x"), ("", "x" * 400),
    ]:  # fmt: skip
        headers = {"Last-Event-ID": header} if header else {}
        answer = send(target, Request("GET", f"/api/stream{query}", headers))
        assert 400 <= answer.status_code < 500, (query, header, answer.status_code)
    assert not log_errors.records


def test_a_body_over_the_cap_is_refused_unread(target: Target) -> None:
    note = "x" * (MAX_BODY_BYTES + 1)
    body = json.dumps({"type": "ADD_NOTE", "target_session_id": "s-1", "text": note})
    before = target.store.count()
    answer = send(target, Request("POST", "/api/commands", {}, body.encode()))
    assert answer.status_code == 413, answer.text
    assert len(answer.content) < 200
    assert target.store.count() == before


@pytest.mark.parametrize(
    "body",
    [
        {"type": "ADD_NOTE", "target_session_id": "s-1", "text": "x", "+5511999990001": 1},
        {"type": "+5511999990001", "target_session_id": "s-1"},
        {"type": "TAKEOVER", "target_session_id": "+5511999990001/x", "reason": "r"},
        {"type": "TAKEOVER", "target_session_id": "s-1", "reason": "r",
         "expected_control_version": "+5511999990001"},
    ],
)  # fmt: skip
def test_a_refusal_does_not_echo_what_it_refuses(target: Target, body: dict[str, Any]) -> None:
    answer = send(target, Request("POST", "/api/commands", {}, json.dumps(body).encode()))
    assert answer.status_code == 422, answer.text
    assert "5511999990001" not in answer.text
