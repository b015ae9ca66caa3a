"""The console over plain HTTP on a real server: signing in and out, the cookie, CSRF,
revocation, and hostile input to its own forms (never a 5xx). Browser behaviour is in
tests/browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from app.runtime import declare_all
from contracts.operators import Role
from contracts.ports.operators import OperatorDirectory
from ingress.app import create_app
from ingress.console.sessions import COOKIE
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
    declare_all(bus)  # as `switchboard serve` does: the dashboard asks each for dead letters
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


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10, follow_redirects=False)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(http: httpx.Client, token: str) -> httpx.Response:
    form = http.get("/console/sign-in")
    return http.post(
        "/console/sign-in", data={"csrf_token": field(form.text, "csrf_token"), "token": token}
    )


def test_signing_in_sets_a_strict_http_only_cookie_and_opens_the_inbox(server: Server) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    with client(server) as http:
        assert http.get("/").headers["location"] == "/console"
        assert http.get("/console").headers["location"] == "/console/sign-in"

        answer = sign_in(http, token)

        assert answer.status_code == 303
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http here; https is checked in the browser test
        inbox = http.get("/console")
        assert inbox.status_code == 200
        assert "Signed in as <strong>ana</strong>" in inbox.text
        assert token not in inbox.text
        assert "'unsafe-inline'" not in inbox.headers["content-security-policy"]


def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(server: Server) -> None:
    """uvicorn believes `X-Forwarded-Proto` from loopback only (`FORWARDED_ALLOW_IPS`)."""
    token = server.operators.add("ana", Role.OPERATOR)
    https = {"X-Forwarded-Proto": "https"}
    with client(server) as http:
        form = http.get("/console/sign-in", headers=https)
        fields = {"csrf_token": field(form.text, "csrf_token"), "token": token}
        answer = http.post("/console/sign-in", headers=https, data=fields)

        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_sign_in_without_its_form_token_is_refused(server: Server) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    with client(server) as http:
        http.get("/console/sign-in")
        answer = http.post("/console/sign-in", data={"token": token, "csrf_token": "forged"})

        assert answer.status_code == 403
        assert f"{COOKIE}=" not in answer.headers.get("set-cookie", "")
        assert http.get("/console").status_code == 303


def test_a_wrong_token_is_refused_and_not_echoed(server: Server) -> None:
    server.operators.add("ana", Role.OPERATOR)
    wrong = "sb_" + "Z" * 43
    with client(server) as http:
        answer = sign_in(http, wrong)

        assert answer.status_code == 401
        assert wrong not in answer.text
        assert "does not open the console" in answer.text


def test_sign_out_needs_the_csrf_token_and_then_ends_the_session(server: Server) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    with client(server) as http:
        sign_in(http, token)
        csrf = field(http.get("/console").text, "csrf_token")

        refused = http.post("/console/sign-out", data={"csrf_token": "0" * 64})
        assert refused.status_code == 403
        assert http.get("/console").status_code == 200  # nothing was done

        done = http.post("/console/sign-out", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert http.get("/console").status_code == 303
        kept = http.cookies.get(COOKIE)
    with client(server) as replay:  # the old cookie opens nothing either
        replay.cookies.set(COOKIE, kept or "")
        assert replay.get("/console").status_code == 303


def test_revoking_the_operator_ends_the_console_session_at_once(server: Server) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    with client(server) as http:
        sign_in(http, token)
        assert http.get("/console").status_code == 200

        server.operators.revoke("ana")

        assert http.get("/console").status_code == 303
        assert http.get("/console/stream").status_code == 401
        assert http.get("/console/inbox/rows", headers={"HX-Request": "true"}).headers[
            "HX-Redirect"
        ] == ("/console/sign-in")


def test_the_console_is_not_in_the_openapi_schema(server: Server) -> None:
    paths = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()["paths"]

    assert not [path for path in paths if path == "/" or path.startswith("/console")]


HOSTILE_BODIES = [
    pytest.param(b"\xff\xfe\x00token=", "application/x-www-form-urlencoded", id="not-utf8"),
    pytest.param(
        b"token=%ff%fe&csrf_token=%ed%a0%80",
        "application/x-www-form-urlencoded",
        id="escaped-invalid-utf8",
    ),
    pytest.param(b"token=" + b"A" * 100_000, "application/x-www-form-urlencoded", id="huge"),
    pytest.param(
        b"&".join(b"f%d=1" % i for i in range(500)),
        "application/x-www-form-urlencoded",
        id="many-fields",
    ),
    pytest.param(b"token=sb_%00%00&csrf_token=", "application/x-www-form-urlencoded", id="nul"),
    pytest.param(b'{"token": "x"}', "application/json", id="json"),
    pytest.param(
        b"--x\r\nContent-Disposition: form-data; name=token\r\n\r\nx\r\n--x--",
        "multipart/form-data; boundary=x",
        id="multipart",
    ),
    pytest.param(b"", "text/plain", id="empty"),
]


@pytest.mark.parametrize(("body", "kind"), HOSTILE_BODIES)
@pytest.mark.parametrize("path", ["/console/sign-in", "/console/sign-out"])
def test_hostile_forms_are_refused_without_a_server_error(
    server: Server, body: bytes, kind: str, path: str
) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    with client(server) as http:
        if path == "/console/sign-out":
            sign_in(http, token)
        else:
            http.get("/console/sign-in")

        answer = http.post(path, content=body, headers={"content-type": kind})

        assert 400 <= answer.status_code < 500, answer.text[:300]
        assert f"{COOKIE}=" not in answer.headers.get("set-cookie", "")
        if path == "/console/sign-out":
            assert http.get("/console").status_code == 200  # still signed in


@pytest.mark.parametrize(
    "path",
    [
        "/console/sessions/..%2F..%2Fetc",
        "/console/sessions/" + "x" * 5000,
        "/console/sessions/nope",
        "/console/sessions/nope/log",
        "/console?cursor=" + "%ff" * 10,
        "/console?cursor=not-a-cursor",
        "/console/stream?session_id=%00",
        "/console/static/../sessions.py",
    ],
)
def test_hostile_paths_and_queries_get_no_server_error(server: Server, path: str) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        answer = http.get(path)

        assert answer.status_code < 500, answer.text[:300]


def test_a_command_without_the_csrf_token_is_refused_and_not_recorded(server: Server) -> None:
    token = server.operators.add("ana", Role.OPERATOR)
    command_id = "c0ffee" * 4
    form = {"type": "TAKEOVER", "reason": "r", "command_id": command_id}
    with client(server) as http:
        sign_in(http, token)

        refused = http.post("/console/sessions/s1/commands", data=form)

        assert refused.status_code == 403
        recorded = http.get(
            f"/api/commands/{command_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert recorded.status_code == 404


@pytest.mark.parametrize(
    ("path", "form", "expected"),
    [
        ("/console/sessions/s1/commands", {"type": "PAUSE_ALL", "reason": "r"}, 422),
        ("/console/sessions/s1/commands", {"type": "TAKEOVER"}, 422),  # no reason
        ("/console/sessions/s1/commands", {"type": "nonsense"}, 422),
        ("/console/sessions/s1/commands", {"type": "CLOSE", "reason": "r", "outcome": "x"}, 422),
        ("/console/sessions/s1/commands",
         {"type": "TAKEOVER", "reason": "r", "expected_control_version": "9" * 40}, 422),
        ("/console/sessions/s1/commands",
         {"type": "ADD_NOTE", "text": "x", "command_id": "../../etc"}, 422),
        ("/console/sessions/s1/commands", {"type": "ADD_NOTE", "text": "x" * 5000}, 422),
        ("/console/system/commands", {"type": "PAUSE_ALL", "reason": "r"}, 403),  # not admin
        ("/console/system/commands", {"type": "TAKEOVER", "reason": "r"}, 422),
    ],
)  # fmt: skip
def test_hostile_control_forms_are_refused_in_words(
    server: Server, path: str, form: dict[str, str], expected: int
) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))
        csrf = field(http.get("/console").text, "csrf_token")

        answer = http.post(path, data={**form, "csrf_token": csrf})

        assert answer.status_code == expected, answer.text[:300]
        assert "✗" in answer.text


@pytest.mark.parametrize(
    "query",
    ["", "?from=2026-01-10&to=2026-01-01", "?from=2000-01-01&to=2026-01-01",
     "?from=nonsense", "?to=9999-12-31", "?from=0001-01-01&to=0001-01-02"],
)  # fmt: skip
def test_the_dashboard_answers_any_range_without_a_server_error(server: Server, query: str) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        answer = http.get(f"/console/dashboard{query}")

        assert answer.status_code < 500, answer.text[:300]


@pytest.mark.parametrize("last_event_id", ["garbage", "a|b", "x" * 299, "2026-13-45|s|1"])
def test_a_stream_resumed_from_an_id_it_never_sent_is_refused(
    server: Server, last_event_id: str
) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        answer = http.get("/console/stream", headers={"Last-Event-ID": last_event_id})

        assert answer.status_code == 400


@pytest.mark.parametrize(
    ("role", "path", "form", "expected"),
    [
        (Role.OPERATOR, "/console/leads/l1/reveal-phone", {"reason": "why"}, 403),
        (Role.ADMIN, "/console/leads/l1/reveal-phone", {"reason": "  "}, 422),
        (Role.ADMIN, "/console/leads/l1/reveal-phone", {"reason": "why"}, 404),
        (Role.ADMIN, "/console/leads/l1/reveal-phone", {"reason": "x" * 9000}, 404),
        (Role.ADMIN, "/console/sessions/s1/forget", {"reason": "r", "confirm": "forget"}, 422),
        (Role.OPERATOR, "/console/sessions/s1/forget", {"reason": "r", "confirm": "FORGET"}, 403),
    ],
)
def test_admin_forms_check_the_role_and_their_input(
    server: Server, role: Role, path: str, form: dict[str, str], expected: int
) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", role))
        csrf = field(http.get("/console").text, "csrf_token")

        answer = http.post(path, data={**form, "csrf_token": csrf})

        assert answer.status_code == expected, answer.text[:300]
        assert "✗" in answer.text


def test_a_console_page_that_cannot_be_shown_says_why_in_a_page(server: Server) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        missing = http.get("/console/sessions/nope")
        fragment = http.get("/console/sessions/nope/panel", headers={"HX-Request": "true"})
        api = http.get("/api/sessions/nope")

        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in missing.text
        assert fragment.status_code == 404
        assert fragment.text.strip().startswith('<p class="command rejected"')
        assert api.headers["content-type"] == "application/json"  # the API is unchanged


@pytest.mark.parametrize(
    "query",
    ["?sort=oldest", "?assignee=everyone", "?mode=BOT", "?lead_status=open",
     "?ready_for_human=yes", "?closed=1", "?q=" + "x" * 101, "?q=ana&cursor=abc",
     "?sort=%00", "?mode=" + "A" * 3000],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/console", "/console/inbox/rows"])
def test_an_inbox_query_the_console_does_not_offer_is_refused_in_a_page(
    server: Server, path: str, query: str
) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        answer = http.get(path + query)

        assert 400 <= answer.status_code < 500, answer.text[:300]
        assert answer.headers["content-type"].startswith("text/html")
        assert "Internal" not in answer.text


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("", ""),
        ("?sort=latest&assignee=mine", "sort=latest&amp;assignee=mine"),
        ("?sort=waiting&mode=HUMAN_TAKEOVER&closed=false", "mode=HUMAN_TAKEOVER&amp;closed=false"),
        ("?lead_status=READY_FOR_HUMAN&ready_for_human=true&sort=priority",
         "sort=priority&amp;lead_status=READY_FOR_HUMAN&amp;ready_for_human=true"),
        ("?q=Maria+Souza&assignee=unassigned", "assignee=unassigned&amp;q=Maria+Souza"),
        ("?q=&mode=&closed=&sort=", ""),  # the form's empty choices: no filter
    ],
)  # fmt: skip
def test_the_inbox_keeps_its_filters_in_the_live_refresh_and_the_form(
    server: Server, query: str, kept: str
) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        page = http.get("/console" + query)
        rows = http.get("/console/inbox/rows" + query)

        assert page.status_code == rows.status_code == 200
        refresh = re.search(r'id="inbox-rows" hx-get="([^"]*)"', page.text)
        assert refresh is not None
        assert refresh.group(1) == "/console/inbox/rows" + (f"?{kept}" if kept else "")
        for name, value in re.findall(r"(\w+)=([^&]+)", kept.replace("&amp;", "&")):
            if name != "q":
                assert f'<option value="{value}" selected>' in page.text, name
        assert ("No conversation matches" in rows.text) == bool(kept and kept != "sort=latest")


def test_the_header_counts_what_waits_in_the_title_too(server: Server) -> None:
    with client(server) as http:
        sign_in(http, server.operators.add("ana", Role.OPERATOR))

        page = http.get("/console")

        assert '<strong id="waiting-count">0</strong> waiting for a human' in page.text
        assert '<strong id="mine-count">0</strong> mine' in page.text
        assert '<strong id="unassigned-count">0</strong>' in page.text
        assert "<title>Inbox · Switchboard</title>" in page.text
