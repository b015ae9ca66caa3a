"""The issue's "done when", as a newcomer sees it: `switchboard serve` on a fresh data
directory, a customer qualified by the rules bot through `switchboard simulate`, then
an operator who takes over, answers and closes through the API; the event streams and
the sandbox outbox say what happened, and the phone number is nowhere in clear.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from adapters.whatsapp.sandbox import read_outbox
from app.bootstrap import open_vault
from app.settings import Backend, Settings
from domain.ids import lead_id_for
from tests.emulators import free_port

PHONE = "+5541987654321"
"""Not the number the startup banner suggests, so that a log line is not mistaken for a leak."""

SCRIPT = [
    ("Olá", "Qual serviço te interessa"),
    ("1", "Qual o nome da sua empresa?"),
    ("Acme Tecnologia", "Em qual cidade vocês estão?"),
    ("Curitiba", "Qual a faixa de orçamento"),
    ("uns 30 mil reais", "Qual o prazo ideal"),
    ("para março", "Qual o principal desafio"),
    ("perdemos clientes pela demora no atendimento", "Um especialista da nossa equipe"),
]
"""What the customer types, and what the bot's answer to it asks (or says)."""

OPERATOR_TEXT = "Oi! Aqui é a Maria, da equipe comercial. Te envio a proposta hoje."


def environment(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        "SWITCHBOARD_BACKEND": "embedded",
        "REPLY_DEBOUNCE_MS": "0",
        "COLUMNS": "200",
    }


def switchboard(data_dir: Path, *args: str) -> str:
    """Run the CLI as a user would; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True, text=True, env=environment(data_dir), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"switchboard {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[str]:
    """`switchboard serve` in the background, its output in `log`; its URL."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env=environment(data_dir),
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, f"serve exited: {log.read_text()}"
                assert time.monotonic() < deadline, f"serve did not come up: {log.read_text()}"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stream(data_dir: Path, stream_id: str) -> list[dict[str, Any]]:
    output = switchboard(data_dir, "events", "show", stream_id, "--json")
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def command(base: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a command as the operator, then wait for the command worker's decision."""
    headers = {"Authorization": f"Bearer {token}"}
    accepted = httpx.post(f"{base}/api/commands", json=body, headers=headers, timeout=10)
    assert accepted.status_code == 202, accepted.text
    command_id = accepted.json()["command_id"]
    deadline = time.monotonic() + 20
    while True:
        status = httpx.get(f"{base}/api/commands/{command_id}", headers=headers, timeout=10)
        assert status.status_code == 200, status.text
        if status.json()["status"] != "PENDING":
            return dict(status.json())
        assert time.monotonic() < deadline, f"command {body['type']} stayed PENDING"
        time.sleep(0.1)


def session_of(data_dir: Path) -> tuple[str, str]:
    """The lead and its session, found as a user would: the lead is named by the
    contact's hash, which the data directory's own keys compute."""
    vault = open_vault(Settings(data_dir=data_dir, backend=Backend.EMBEDDED))
    lead_id = lead_id_for(vault.contact_hash(PHONE))
    (opened,) = [e for e in stream(data_dir, f"lead-{lead_id}") if e["type"] == "LeadOpened"]
    return lead_id, str(opened["payload"]["session_id"])


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_customer_is_qualified_by_the_bot_then_served_and_closed_by_an_operator(
    tmp_path: Path,
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    with serving(data_dir, log) as base:
        for said, asked in SCRIPT:
            printed = switchboard(
                data_dir, "simulate", "--from", PHONE, "--text", said, "--url", base,
                "--wait", "15",
            )  # fmt: skip
            assert "→ sent:" in printed, f"no reply to {said!r}: {printed}"
            assert asked in " ".join(printed.split()), f"after {said!r}: {printed}"
        lead_id, session_id = session_of(data_dir)
        token = switchboard(data_dir, "operators", "add", "maria", "--role", "operator").strip()

        took = command(base, token, {"type": "TAKEOVER", "target_session_id": session_id,
                                     "reason": "lead qualificado"})  # fmt: skip
        sent = command(base, token, {"type": "SEND_MESSAGE", "target_session_id": session_id,
                                     "text": OPERATOR_TEXT})  # fmt: skip
        deadline = time.monotonic() + 20
        while OPERATOR_TEXT not in [m.text for m in read_outbox(data_dir / "sandbox-outbox.jsonl")]:
            assert time.monotonic() < deadline, "the operator's message was not sent"
            time.sleep(0.1)
        closed = command(base, token, {
            "type": "CLOSE", "target_session_id": session_id, "reason": "proposta enviada",
            "outcome": "QUALIFIED", "note": "enviar contrato",
        })  # fmt: skip

    assert [took["status"], sent["status"], closed["status"]] == ["APPLIED"] * 3
    assert took["requested_by"] == "maria"

    lead = stream(data_dir, f"lead-{lead_id}")
    statuses = [e["payload"]["status"] for e in lead if e["type"] == "LeadStatusChanged"]
    assert statuses == ["QUALIFYING", "READY_FOR_HUMAN", "IN_HUMAN", "CLOSED"]
    (handoff,) = [e for e in lead if e["type"] == "LeadMarkedReadyForHuman"]
    assert handoff["payload"]["handoff_reason"] == "QUALIFIED"
    collected = {e["payload"]["field"] for e in lead if e["type"] == "LeadFieldCollected"}
    assert collected == {"service_interest", "company_name", "city", "budget_range",
                         "deadline", "pain_points"}  # fmt: skip

    session = stream(data_dir, f"session-{session_id}")
    claimed = [e for e in session if e["type"] == "OutboundClaimed"]
    replies = [e for e in claimed if e["payload"]["kind"] == "REPLY"]
    assert len(replies) == len(SCRIPT)
    assert all(e["actor"] == "LLM" for e in replies)
    (operator,) = [e for e in claimed if e["payload"]["kind"] == "OPERATOR"]
    assert operator["actor"] == "HUMAN"
    assert (operator["payload"]["by"], operator["payload"]["text"]) == ("maria", OPERATOR_TEXT)
    (takeover,) = [e for e in session if e["type"] == "ControlChanged"]
    assert takeover["payload"]["human_assignee"] == "maria"
    (ended,) = [e for e in session if e["type"] == "SessionClosed"]
    assert ended["payload"] | {"closed_by": "maria", "outcome": "QUALIFIED"} == ended["payload"]
    assert sum(e["type"] == "OutboundSent" for e in session) == len(claimed)

    outbox = [message.text for message in read_outbox(data_dir / "sandbox-outbox.jsonl")]
    assert outbox == [e["payload"]["text"] for e in claimed]

    digits = PHONE.removeprefix("+").encode()
    assert files_holding(data_dir, digits) == []
    assert digits not in log.read_bytes()
