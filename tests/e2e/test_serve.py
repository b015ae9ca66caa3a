"""`switchboard serve` as a newcomer runs it: a fresh data directory, the token it
prints, and a kill -9 right after an acknowledged command or webhook."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from adapters.whatsapp.sandbox import read_outbox
from ingress import samples
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from tests.emulators import free_port
from tests.pipeline import PHONE, eventually


@contextmanager
def serve(data_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """Start `switchboard serve`; yield its URL and what it printed so far."""
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir),
           "SWITCHBOARD_BACKEND": "embedded", "COLUMNS": "200",
           "BUS_ACK_DEADLINE_S": "10"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    base, printed = f"http://127.0.0.1:{port}", list[str]()
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, f"serve did not come up: {printed}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base, printed
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        printed.extend(process.stdout.read().splitlines())


def test_a_fresh_serve_prints_an_admin_token_that_works(tmp_path: Path) -> None:
    with serve(tmp_path) as (base, printed):
        ready = httpx.get(f"{base}/readyz")
    token = re.search(r"admin token, shown once: (\S+)", "\n".join(printed))

    assert ready.status_code == 200
    assert token is not None
    with serve(tmp_path) as (base, printed_again):
        answer = httpx.get(f"{base}/api/commands/none",
                           headers={"Authorization": f"Bearer {token.group(1)}"})  # fmt: skip
    assert answer.status_code == 404  # authenticated, and no such command
    assert "admin token" not in "\n".join(printed_again)


def test_kill_9_right_after_a_202_loses_nothing(tmp_path: Path) -> None:
    body = {"type": "TAKEOVER", "target_session_id": "s-1", "reason": "r", "command_id": "c-1"}
    with serve(tmp_path) as (base, printed):
        pass
    token = re.search(r"admin token, shown once: (\S+)", "\n".join(printed))
    assert token is not None
    headers = {"Authorization": f"Bearer {token.group(1)}"}

    with serve(tmp_path) as (base, _):
        accepted = httpx.post(f"{base}/api/commands", json=body, headers=headers)
        # leaving the block kills the server with SIGKILL at once

    assert accepted.status_code == 202
    with serve(tmp_path) as (base, _):

        def decided() -> dict[str, str] | None:
            answer = httpx.get(f"{base}/api/commands/c-1", headers=headers).json()
            return answer if answer["status"] != "PENDING" else None

        command = eventually(decided, timeout=30, what="the command worker's decision")
    # it survived the kill, reached the command worker, and was judged on its merits
    assert (command["status"], command["result"]) == ("REJECTED", "no session 's-1'")


def test_kill_9_right_after_a_webhook_200_loses_nothing(tmp_path: Path) -> None:
    """The 200 means durable: the message killed before any worker saw it is recorded
    and answered once serve comes back."""
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path), "SWITCHBOARD_BACKEND": "embedded"}
    with serve(tmp_path) as (base, _):
        secret = json.loads((tmp_path / "dev-secrets.json").read_text())["whatsapp_app_secret"]
        body = samples.encode(samples.sample(samples.SampleKind.TEXT, phone=PHONE, text="Olá"))
        headers = {HEADER: signature_header(secret.encode(), body)}
        accepted = httpx.post(f"{base}{PATH}", content=body, headers=headers)
        # leaving the block kills the server with SIGKILL at once

    assert accepted.status_code == 200
    with serve(tmp_path):
        outbox = tmp_path / "sandbox-outbox.jsonl"
        # a lease taken by the killed process runs out first (BUS_ACK_DEADLINE_S)
        replies = eventually(lambda: read_outbox(outbox), timeout=40, what="the bot's reply")
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli", "events", "streams", "session"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert len(replies) == 1
    assert "1 streams" in listed.stdout
