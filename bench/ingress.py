"""Webhook benchmark: requests/s and latency of `POST /webhooks/whatsapp` on a real
`switchboard ingress` (the HTTP front door alone: what it accepts waits on the bus),
from a loopback load generator, at several concurrencies and on each back end.

    .venv/bin/python bench/ingress.py [--requests N] [--json] [--gcp]

See bench/README.md ("Webhook benchmark") for what it measures and what limits it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime

import httpx
from rich.console import Console
from rich.table import Table

from adapters.crypto.hashing import generate_hash_key
from adapters.crypto.keyring import Keyring
from bench.eventstore import filesystem, machine, positive
from ingress.samples import SampleKind, encode, sample
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from tests.emulators import free_port

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 16, 64)
TARGET = ("embedded", 16, 25.0)  # back end, concurrency, p99 in ms (issue 3)
TEXT = "Olá! Vi o anúncio de vocês e queria saber o preço do plano empresarial."
PUBLISHED = {"status": "published", "messages": 1, "statuses": 0}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")


class BenchError(RuntimeError):
    """The server did not start, died, or lost what it acknowledged."""


@dataclass(frozen=True)
class Result:
    backend: str
    concurrency: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed: int
    """Answers other than 200 with one message published (and transport errors)."""
    server_cpu_percent: float
    """CPU the server process used, as % of one core (100 = one core busy throughout)."""
    client_cpu_percent: float


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Server:
    backend: str
    url: str
    pid: int
    app_secret: bytes


# -- the server ----------------------------------------------------------------------


def server_environment(backend: str, data_dir: Path, app_secret: str) -> dict[str, str]:
    """Fresh secrets (so the bench can sign), a fresh data dir and, on gcp, a project of
    its own so that the emulators' topics and documents start empty."""
    env = {key: value for key, value in os.environ.items() if key not in EMULATOR_VARIABLES}
    env.update(
        SWITCHBOARD_BACKEND=backend,
        SWITCHBOARD_DATA_DIR=str(data_dir),
        WHATSAPP_APP_SECRET=app_secret,
        WHATSAPP_VERIFY_TOKEN=uuid.uuid4().hex,
        PII_HASH_KEY=generate_hash_key(),
        PII_ENCRYPTION_KEYS=Keyring.generate("bench").format(),
    )
    if backend == "gcp":
        env.update({key: os.environ[key] for key in EMULATOR_VARIABLES})
        env["GCP_PROJECT"] = f"switchboard-bench-{uuid.uuid4().hex[:8]}"
    return env


@contextmanager
def running_server(backend: str, data_dir: Path) -> Iterator[Server]:
    """`switchboard ingress` in its own process (its own GIL), on a free loopback port;
    its output goes to `server.log` in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port, app_secret = free_port(), uuid.uuid4().hex
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "app.cli", "ingress", "--host", "127.0.0.1", "--port"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, str(port)],
            cwd=ROOT,
            env=server_environment(backend, data_dir, app_secret),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log)
        yield Server(backend, url, process.pid, app_secret.encode())
    finally:
        stop(process)
    if process.returncode not in (0, -signal.SIGTERM):
        raise BenchError(f"the {backend} server exited with {process.returncode}; see {log}")


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the server exited with {process.returncode}: {tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"the server did not answer within 60 s: {tail(log)}")


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid`, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


# -- the load ------------------------------------------------------------------------


def deliveries(app_secret: bytes, count: int, start: int) -> list[Delivery]:
    """`count` signed webhook bodies, each one new text message (a fresh wamid) from a
    contact never seen before, as Meta would send them. Built before any timing."""
    made = []
    for n in range(start, start + count):
        body = encode(sample(SampleKind.TEXT, phone=f"+55119{n:08d}", text=TEXT))
        headers = {HEADER: signature_header(app_secret, body), "content-type": "application/json"}
        made.append(Delivery(body, headers))
    return made


async def post_all(url: str, work: Sequence[Delivery], concurrency: int) -> list[float | None]:
    """Post every delivery, `concurrency` at a time, each worker on its own kept-alive
    connection; the latency of each in seconds, or None where the answer was not a
    published message."""
    latencies: list[float | None] = [None] * len(work)
    pending = iter(range(len(work)))

    async def worker() -> None:
        # A client (a pool) per connection: one shared pool of 64 costs the client
        # milliseconds of CPU per request, and the client would measure itself.
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for index in pending:
                delivery = work[index]
                started = time.perf_counter()
                try:
                    response = await client.post(
                        PATH, content=delivery.body, headers=delivery.headers
                    )
                except httpx.HTTPError:
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code == 200 and response.json() == PUBLISHED:
                    latencies[index] = elapsed

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below it."""
    rank = max(1, -(-int(share * 1000) * len(ordered) // 1000))
    return ordered[rank - 1]


def measure(server: Server, concurrency: int, requests: int, sent: int) -> Result:
    """A warm-up, then `requests` timed requests at `concurrency`. `sent` numbers the
    contacts, so that no two requests of a run share a message or a sender."""
    secret = server.app_secret
    warmup = max(2 * concurrency, requests // 10)
    asyncio.run(post_all(server.url, deliveries(secret, warmup, sent), concurrency))
    work = deliveries(secret, requests, sent + warmup)
    server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
    started = time.perf_counter()
    latencies = asyncio.run(post_all(server.url, work, concurrency))
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(server.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    ok = sorted(latency for latency in latencies if latency is not None)
    result = Result(
        backend=server.backend,
        concurrency=concurrency,
        requests=requests,
        requests_per_s=round(requests / elapsed, 1),
        p50_ms=round(percentile(ok, 0.50) * 1000, 2) if ok else float("nan"),
        p99_ms=round(percentile(ok, 0.99) * 1000, 2) if ok else float("nan"),
        max_ms=round(ok[-1] * 1000, 2) if ok else float("nan"),
        failed=requests - len(ok),
        server_cpu_percent=round(100 * server_cpu / elapsed, 1),
        client_cpu_percent=round(100 * client_cpu / elapsed, 1),
    )
    print(
        f"  {result.backend:<8} c={concurrency:<3} {result.requests_per_s:>8,.0f} req/s  "
        f"p50 {result.p50_ms:>7.2f} ms  p99 {result.p99_ms:>7.2f} ms  "
        f"failed {result.failed}",
        file=sys.stderr,
    )
    return result


def queued_messages(data_dir: Path) -> int:
    """Messages waiting for the conversation worker in the embedded bus (read after
    the server stopped): every 200 must have left one."""
    connection = sqlite3.connect(data_dir / "switchboard.db")
    try:
        query = "SELECT count(*) FROM bus_queue WHERE subscription = 'conversation-worker'"
        return int(connection.execute(query).fetchone()[0])
    finally:
        connection.close()


def run_backend(
    backend: str, directory: Path, levels: Sequence[int], requests: int, notes: list[str]
) -> list[Result]:
    print(f"{backend}:", file=sys.stderr)
    data_dir = directory / backend
    results, sent = [], 0
    with running_server(backend, data_dir) as server:
        for concurrency in levels:
            results.append(measure(server, concurrency, requests, sent))
            sent += requests + max(2 * concurrency, requests // 10)
    accepted = sent - sum(r.failed for r in results)  # the warm-ups must all succeed too
    if backend == "embedded" and (queued := queued_messages(data_dir)) < accepted:
        raise BenchError(f"{accepted} webhooks answered 200 but only {queued} are on the bus")
    if any(r.failed for r in results):
        notes.append(f"{backend}: some answers were not 200 with one message; see server.log")
    return results


@contextmanager
def emulator_hosts(launch: bool, notes: list[str]) -> Iterator[bool]:
    """Whether the gcp back end can run: both emulator variables set, or emulators
    started for this run."""
    if all(os.environ.get(key) for key in EMULATOR_VARIABLES):
        yield True
        return
    if not launch:
        notes.append(
            "gcp skipped: set PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST or pass --gcp "
            "to start the emulators"
        )
        yield False
        return
    from tests.emulators import EmulatorUnavailable, start

    with tempfile.TemporaryDirectory(prefix="switchboard-bench-emulators-") as log_dir:
        try:
            emulators = start(Path(log_dir))
        except EmulatorUnavailable as error:
            notes.append(f"gcp skipped: {error}")
            yield False
            return
        saved = {key: os.environ.get(key) for key in EMULATOR_VARIABLES}
        os.environ.update(emulators.env())
        try:
            yield True
        finally:
            emulators.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


# -- reporting -----------------------------------------------------------------------


def verdict(results: Sequence[Result]) -> tuple[str, bool] | None:
    backend, concurrency, limit = TARGET
    found = next((r for r in results if (r.backend, r.concurrency) == (backend, concurrency)), None)
    if found is None:
        return None
    held = found.p99_ms < limit and found.failed == 0
    return f"p99 < {limit:g} ms at concurrency {concurrency} on {backend}: {found.p99_ms} ms", held


def print_table(results: Sequence[Result], header: Sequence[str], notes: Sequence[str]) -> None:
    for line in header:
        print(line)
    table = Table(title="POST /webhooks/whatsapp, one new message per request")
    columns = ["back end", "concurrency", "req/s", "p50 ms", "p99 ms", "max ms", "failed"]
    for column in [*columns, "server CPU", "client CPU"]:
        table.add_column(column, justify="left" if column == "back end" else "right")
    for r in results:
        table.add_row(
            r.backend,
            str(r.concurrency),
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.max_ms:.2f}",
            str(r.failed),
            f"{r.server_cpu_percent:.0f}%",
            f"{r.client_cpu_percent:.0f}%",
        )
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)
    found = verdict(results)
    if found is not None:
        label, held = found
        print(f"{'PASS' if held else 'FAIL'}  {label}")
    for note in notes:
        print(f"note: {note}")


def levels(text: str) -> list[int]:
    return [positive(part) for part in text.split(",")]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=positive, default=3000, help="timed requests per level (embedded)"
    )
    parser.add_argument(
        "--gcp-requests",
        type=positive,
        default=500,
        help="timed requests per level on gcp (the emulators are slow)",
    )
    parser.add_argument(
        "--concurrency",
        type=levels,
        default=list(LEVELS),
        help="comma-separated levels (default 1,16,64)",
    )
    parser.add_argument("--gcp", action="store_true", help="start the emulators for this run")
    parser.add_argument("--dir", type=Path, default=None, help="where the data dirs go")
    parser.add_argument("--json", action="store_true", help="print only the results, as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="switchboard-bench-", dir=args.dir) as tmp,
        emulator_hosts(args.gcp, notes) as gcp,
    ):
        directory = Path(tmp)
        header = [
            f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"machine: {machine()}",
            f"python {platform.python_version()}, httpx {httpx.__version__}, "
            f"SQLite {sqlite3.sqlite_version}, data in {directory} ({filesystem(directory)})",
            f"per level: {args.requests} timed requests on embedded, {args.gcp_requests} on "
            "gcp, after a warm-up of max(2 x concurrency, 10%); client: one asyncio process",
        ]
        results = run_backend("embedded", directory, args.concurrency, args.requests, notes)
        if gcp:
            results += run_backend("gcp", directory, args.concurrency, args.gcp_requests, notes)
    if args.json:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(json.dumps({"results": [asdict(r) for r in results]}))
    else:
        print_table(results, header, notes)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
