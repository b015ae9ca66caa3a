"""`GraphChannel` against a fake Graph API on loopback: the request it sends, and what
each answer of Meta's becomes, counted in requests the server really received."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from structlog.testing import capture_logs

from adapters.whatsapp.errors import BSUID_UNSUPPORTED_CODE
from adapters.whatsapp.graph import GraphChannel
from contracts.ports.channel import WINDOW_CLOSED_CODE, Ambiguous, Recipient, Refused, Sent
from tests.emulators import free_port
from tests.fake_graph import FakeGraph, Reply, fake_graph, meta_error, success

TOKEN = "EAAG-test-token-0123456789"
PHONE = "+5511999990001"
USER_ID = "BR.1502576394655843"
LINE = "106540352242922"
TEXT = "Olá! Seu orçamento sai amanhã."
TINY_BACKOFF = (0.001, 0.01)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as served:
        yield served


def channel_for(graph: FakeGraph, timeout_s: float = 5, max_attempts: int = 4) -> GraphChannel:
    return GraphChannel(
        TOKEN,
        api_base=graph.base_url,
        timeout_s=timeout_s,
        max_attempts=max_attempts,
        backoff_s=TINY_BACKOFF,
    )


def send(channel: GraphChannel, to: Recipient | None = None) -> Sent | Refused | Ambiguous:
    return channel.send_text(LINE, to or Recipient(phone=PHONE), TEXT)


# -- the request -------------------------------------------------------------------


def test_a_text_goes_to_the_line_s_messages_edge_with_the_token(graph: FakeGraph) -> None:
    graph.script(success("wamid.HBgMNTUxMTk5OTk5MDAwMRUCABEYEjA"))

    outcome = send(channel_for(graph))

    assert outcome == Sent(wa_message_id="wamid.HBgMNTUxMTk5OTk5MDAwMRUCABEYEjA")
    [request] = graph.requests
    assert request.path == f"/v23.0/{LINE}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511999990001",
        "type": "text",
        "text": {"preview_url": False, "body": TEXT},
    }


def test_the_api_version_and_base_are_configurable(graph: FakeGraph) -> None:
    channel = GraphChannel(TOKEN, api_base=graph.base_url + "/", api_version="v99.0")

    assert isinstance(send(channel), Sent)
    assert graph.requests[0].path == f"/v99.0/{LINE}/messages"


def test_a_user_known_only_by_user_id_is_addressed_by_recipient(graph: FakeGraph) -> None:
    assert isinstance(send(channel_for(graph), Recipient(user_id=USER_ID)), Sent)

    body = graph.requests[0].json
    assert body["recipient"] == USER_ID
    assert "to" not in body


def test_with_both_addresses_only_the_phone_is_sent(graph: FakeGraph) -> None:
    assert isinstance(send(channel_for(graph), Recipient(phone=PHONE, user_id=USER_ID)), Sent)

    body = graph.requests[0].json
    assert body["to"] == "5511999990001"
    assert "recipient" not in body


def test_a_client_handed_in_is_used(graph: FakeGraph) -> None:
    with httpx.Client(headers={"x-caller": "switchboard-test"}) as http:
        channel = GraphChannel(TOKEN, api_base=graph.base_url, http=http)
        assert isinstance(send(channel), Sent)
        channel.close()
        assert not http.is_closed
    assert graph.requests[0].headers["x-caller"] == "switchboard-test"


# -- retried, then final -------------------------------------------------------------

RATE_LIMITED = [
    pytest.param(meta_error(130429), id="130429-throughput"),
    pytest.param(meta_error(131056), id="131056-pair-rate"),
    pytest.param(meta_error(80007), id="80007-waba-rate"),
    pytest.param(meta_error(4, status=429), id="http-429"),
]


@pytest.mark.parametrize("limited", RATE_LIMITED)
def test_a_rate_limit_is_retried_until_it_passes(graph: FakeGraph, limited: Reply) -> None:
    graph.script(limited, limited, limited, success("wamid.after-the-wait"))

    assert send(channel_for(graph)) == Sent(wa_message_id="wamid.after-the-wait")
    assert len(graph.requests) == 4


def test_a_rate_limit_that_does_not_pass_is_refused_after_every_attempt(
    graph: FakeGraph,
) -> None:
    graph.script(*[meta_error(131056)] * 5)

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert outcome.error_code == 131056
    assert outcome.reason.startswith("rate limited after 4 attempts")
    assert len(graph.requests) == 4


def test_max_attempts_counts_every_attempt(graph: FakeGraph) -> None:
    graph.script(*[meta_error(130429)] * 5)

    outcome = send(channel_for(graph, max_attempts=2))

    assert isinstance(outcome, Refused)
    assert outcome.reason.startswith("rate limited after 2 attempts")
    assert len(graph.requests) == 2


def test_an_http_429_without_a_meta_code_is_refused_without_one(graph: FakeGraph) -> None:
    graph.script(*[Reply(status=429, body={"detail": "slow down"})] * 4)

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert outcome.error_code is None
    assert outcome.reason.startswith("rate limited after 4 attempts")
    assert len(graph.requests) == 4


@pytest.mark.parametrize(("code", "status"), [(1, 500), (2, 503)])
def test_meta_s_transient_server_codes_are_retried(
    graph: FakeGraph, code: int, status: int
) -> None:
    graph.script(meta_error(code, status=status), success("wamid.second-try"))

    assert send(channel_for(graph)) == Sent(wa_message_id="wamid.second-try")
    assert len(graph.requests) == 2


def test_a_transient_server_code_that_persists_is_refused(graph: FakeGraph) -> None:
    graph.script(*[meta_error(2, status=503)] * 4)

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert outcome.error_code == 2
    assert "after 4 attempts" in outcome.reason
    assert len(graph.requests) == 4


def test_a_connection_refused_before_sending_is_retried_then_refused() -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    channel = GraphChannel(TOKEN, api_base=nobody_listens, backoff_s=TINY_BACKOFF)

    with capture_logs() as logs:
        outcome = send(channel)

    assert isinstance(outcome, Refused)
    assert outcome.error_code is None
    assert outcome.reason.startswith("could not connect to WhatsApp after 4 attempts")
    assert [entry["attempt"] for entry in logs] == [1, 2, 3, 4]


# -- final at once -------------------------------------------------------------------


def test_a_closed_customer_window_is_refused_at_once(graph: FakeGraph) -> None:
    graph.script(meta_error(WINDOW_CLOSED_CODE, details="more than 24 hours have passed"))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert outcome.error_code == WINDOW_CLOSED_CODE
    assert outcome.reason.startswith("the 24-hour customer window is closed: ")
    assert "more than 24 hours have passed" in outcome.reason
    assert len(graph.requests) == 1


def test_a_kind_of_message_a_bsuid_cannot_receive_is_refused_clearly(graph: FakeGraph) -> None:
    graph.script(meta_error(BSUID_UNSUPPORTED_CODE, details="not supported for this recipient"))

    outcome = send(channel_for(graph), Recipient(user_id=USER_ID))

    assert isinstance(outcome, Refused)
    assert outcome.error_code == BSUID_UNSUPPORTED_CODE
    assert "known only by their business-scoped user id" in outcome.reason
    assert USER_ID not in outcome.reason
    assert len(graph.requests) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 100), (401, 190), (403, 10), (400, 131026), (404, 131030)],
)
def test_any_other_client_error_is_refused_at_once(
    graph: FakeGraph, status: int, code: int
) -> None:
    graph.script(meta_error(code, status=status, message=f"(#{code}) what Meta says"))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert outcome.error_code == code
    assert f"(#{code}) what Meta says" in outcome.reason
    assert len(graph.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(meta_error(131000, status=500), id="500-meta-error"),
        pytest.param(Reply(status=502, body={"unexpected": "gateway"}), id="502-not-meta"),
        pytest.param(meta_error(3, status=500), id="500-code-3"),
    ],
)
def test_a_server_error_is_ambiguous_and_not_resent(graph: FakeGraph, reply: Reply) -> None:
    graph.script(reply, success("wamid.would-be-a-duplicate"))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Ambiguous)
    assert "may have gone out" in outcome.reason
    assert len(graph.requests) == 1


def test_a_timeout_is_ambiguous_after_exactly_one_request(graph: FakeGraph) -> None:
    graph.script(Reply(delay_s=3))

    outcome = send(channel_for(graph, timeout_s=0.2))

    assert isinstance(outcome, Ambiguous)
    assert "no answer from WhatsApp within 0.2 s" in outcome.reason
    assert len(graph.requests) == 1


def test_a_connection_dropped_after_sending_is_ambiguous(graph: FakeGraph) -> None:
    graph.script(Reply(drop=True), success("wamid.would-be-a-duplicate"))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Ambiguous)
    assert "after the request was sent" in outcome.reason
    assert len(graph.requests) == 1


@pytest.mark.parametrize(
    "body",
    [{"messages": []}, {"messages": [{"id": ""}]}, {"contacts": []}, ["not", "an", "object"]],
)
def test_a_success_without_a_message_id_is_ambiguous(graph: FakeGraph, body: object) -> None:
    graph.script(Reply(status=200, body=body))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Ambiguous)
    assert "no message id" in outcome.reason
    assert len(graph.requests) == 1


# -- what is said and logged ---------------------------------------------------------

# Meta may quote the number even to a sender that only gave the user id.
ECHOING = f"(#131030) {PHONE} / {PHONE[1:]} / {USER_ID} not allowed with {TOKEN}: {TEXT}"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(400, 131030, id="refused"),
        pytest.param(400, 131056, id="rate-limited"),
        pytest.param(500, 131000, id="ambiguous"),
    ],
)
@pytest.mark.parametrize(
    "to", [Recipient(phone=PHONE), Recipient(user_id=USER_ID)], ids=["phone", "user-id"]
)
def test_no_reason_and_no_log_carries_the_token_a_number_the_user_id_or_the_text(
    graph: FakeGraph, capfd: pytest.CaptureFixture[str], status: int, code: int, to: Recipient
) -> None:
    echo = ECHOING if to.user_id else ECHOING.replace(USER_ID, "")
    graph.script(*[meta_error(code, status=status, message=echo, details=echo)] * 4)

    outcome = send(channel_for(graph), to)

    assert isinstance(outcome, Refused | Ambiguous)
    assert "not allowed with [redacted]" in outcome.reason
    written = capfd.readouterr()
    for secret in (TOKEN, PHONE, PHONE[1:], USER_ID, TEXT):
        assert secret not in outcome.reason
        assert secret not in written.out
        assert secret not in written.err


def test_the_business_line_id_stays_readable_in_a_reason(graph: FakeGraph) -> None:
    graph.script(meta_error(100, message=f"(#100) Object with ID '{LINE}' does not exist"))

    outcome = send(channel_for(graph))

    assert isinstance(outcome, Refused)
    assert f"Object with ID '{LINE}' does not exist" in outcome.reason


def test_each_attempt_is_logged_with_status_code_attempt_and_latency(graph: FakeGraph) -> None:
    graph.script(meta_error(131056), success("wamid.logged"))

    with capture_logs() as logs:
        send(channel_for(graph))

    assert [(entry["attempt"], entry["status"], entry["code"]) for entry in logs] == [
        (1, 400, 131056),
        (2, 200, None),
    ]
    assert all(entry["latency_ms"] >= 0 for entry in logs)
