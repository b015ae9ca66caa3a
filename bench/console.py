"""Console benchmark: how fast the operator console answers with many sessions, and how
soon a change reaches many open consoles.

    .venv/bin/python bench/console.py [--sessions 10000] [--requests 200] [--consoles 50]

A real `switchboard serve` (embedded back end) runs on a data directory seeded with
`--sessions` sessions (as the projector writes them) and one conversation of 200
messages. Then, signed in through the sign-in form:

- p50/p99 of `GET /console` (the inbox's first page) and of the conversation page,
  each timed from the client over loopback (so a little above server time);
- with `--consoles` streams open (`GET /console/stream`, as each page holds), a signed
  WhatsApp webhook goes in and the time until each stream carries the change is taken
  (webhook → conversation worker → projector → stream). The stream sends a change once
  it is `SETTLE_S` (1 s) old, by design (see ingress/live.py), so that is the floor.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
from rich.console import Console

from adapters.sqlite.operators import SqliteOperatorDirectory
from adapters.sqlite.snapshots import SqliteSnapshotStore
from app.dev_secrets import resolve_secrets
from app.settings import Settings
from contracts.operators import Role
from contracts.ports.snapshots import Commit, Position, Put, SnapshotStore, Write
from ingress.samples import SampleKind, encode, sample
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from projections.catalogue import OWNERS

out = Console(stderr=True)
BATCH = 150
"""Sessions per commit: two writes and a position each, within 500."""


def seed(snapshots: SnapshotStore, sessions: int, messages: int) -> str:
    """`sessions` sessions with their controls; the first has `messages` messages."""
    now = datetime.now(UTC)
    generation = {name: g for name, (g, _) in snapshots.generations().items()}
    owner = OWNERS["sessions"]
    for start in range(0, sessions, BATCH):
        commits = []
        for n in range(start, min(sessions, start + BATCH)):
            sid, at = f"bench{n:06d}", (now - timedelta(seconds=n)).isoformat()
            session = {"session_id": sid, "lead_id": f"lead{n:06d}", "from_hash": f"{n:064x}",
                       "state": "ACTIVE", "started_at": at, "updated_at": at,
                       "last_inbound_at": at, "inbound_count": 3, "outbound_count": 2,
                       "mode": "LLM_ACTIVE", "control_version": 0}  # fmt: skip
            control = {"session_id": sid, "mode": "LLM_ACTIVE", "version": 0, "updated_at": at}
            writes: list[Write] = [Put("sessions", sid, session),
                                   Put("session_controls", sid, control)]  # fmt: skip
            commits.append(Commit(f"session-{sid}", 0, Position(1), writes))
        snapshots.commit_many(owner, generation[owner], commits)
    first = "bench000000"
    log: list[Write] = []
    for seq in range(1, messages + 1):
        inbound = seq % 2 == 1
        entry = {"session_id": first, "seq": seq, "direction": "IN" if inbound else "OUT",
                 "type": "text", "body_sanitized": f"mensagem {seq}",
                 "actor": "USER" if inbound else "LLM",
                 "status": "RECEIVED" if inbound else "DELIVERED", "status_history": [],
                 "correlation_id": f"c-{seq}", "created_at": now.isoformat(),
                 "updated_at": (now + timedelta(microseconds=seq)).isoformat()}  # fmt: skip
        log.append(Put("messages", f"{first}:{seq:08d}", entry))
    owner = OWNERS["messages"]
    snapshots.commit(owner, generation[owner], f"session-{first}", 0, Position(messages), log)
    return first


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def timed(http: httpx.Client, path: str, requests: int) -> tuple[float, float]:
    took = []
    for _ in range(requests):
        begun = time.perf_counter()
        answer = http.get(path)
        took.append((time.perf_counter() - begun) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return percentile(took, 0.5), percentile(took, 0.99)


def stream_latency(base: str, cookie: str, consoles: int, secret: str) -> list[float]:
    """Open `consoles` streams, send one webhook, and return the seconds each stream
    took to carry a session change after it."""
    ready = threading.Barrier(consoles + 1)
    sent_at: list[float] = []
    arrived: list[float] = []
    lock = threading.Lock()

    def listen() -> None:
        with (
            httpx.Client(base_url=base, cookies={"sb_console": cookie}, timeout=60) as http,
            http.stream("GET", "/console/stream") as response,
        ):
            lines = response.iter_lines()
            next(lines)  # ": connected"
            ready.wait()
            for line in lines:
                if line == "event: session" and sent_at:
                    with lock:
                        arrived.append(time.perf_counter() - sent_at[0])
                    return

    threads = [threading.Thread(target=listen, daemon=True) for _ in range(consoles)]
    for thread in threads:
        thread.start()
    ready.wait(60)
    time.sleep(1.5)  # every stream is past its first read
    body = encode(sample(SampleKind.TEXT, phone="+5511988887777", text="Olá", user_id=None))
    headers = {"Content-Type": "application/json",
               HEADER: signature_header(secret.encode(), body)}  # fmt: skip
    sent_at.append(time.perf_counter())
    assert httpx.post(base + PATH, content=body, headers=headers, timeout=10).status_code == 200
    for thread in threads:
        thread.join(30)
    return arrived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--consoles", type=int, default=50)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-console-"))
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_BACKEND": "embedded"}
    os.environ.update(env)
    settings = Settings()
    out.print(f"seeding {args.sessions} sessions in {data_dir}")
    snapshots = SqliteSnapshotStore(settings.sqlite_path, OWNERS)
    conversation = seed(snapshots, args.sessions, 200)
    snapshots.close()
    token = SqliteOperatorDirectory(settings.sqlite_path).add("bench", Role.ADMIN)
    secret = resolve_secrets(settings).whatsapp_app_secret
    port = 18765
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            form = http.get("/console/sign-in").text
            nonce = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert nonce
            http.post("/console/sign-in", data={"csrf_token": nonce.group(1), "token": token})
            cookie = http.cookies["sb_console"]
            inbox = timed(http, "/console", args.requests)
            page = timed(http, f"/console/sessions/{conversation}", args.requests)
        latency = stream_latency(base, cookie, args.consoles, secret)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"sessions in the store: {args.sessions}; requests per page: {args.requests}")
    print(f"inbox (first page of 50)        p50 {inbox[0]:7.1f} ms   p99 {inbox[1]:7.1f} ms")
    print(f"conversation (200 messages)     p50 {page[0]:7.1f} ms   p99 {page[1]:7.1f} ms")
    if latency:
        print(f"webhook → {len(latency)}/{args.consoles} consoles   "
              f"p50 {statistics.median(latency) * 1000:7.0f} ms   "
              f"max {max(latency) * 1000:7.0f} ms (includes the 1 s settle)")  # fmt: skip
    else:
        print("webhook → consoles: no stream carried the change within 30 s")


if __name__ == "__main__":
    main()
