"""Pipeline benchmark: inbound messages/s from webhook to claimed reply, and the latency
of each message (its POST to the `OutboundClaimed` of its reply), on a real `switchboard
serve` with the `rules` responder, on each back end.

    .venv/bin/python bench/pipeline.py [--messages N] [--conversations N] [--json] [--gcp]

See bench/README.md ("Pipeline benchmark") for what it measures and what limits it.
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
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime

import httpx
from rich.console import Console
from rich.table import Table

from adapters.crypto.hashing import message_ref, parse_hash_key
from app.settings import Settings
from bench.eventstore import filesystem, machine, positive
from bench.ingress import (
    PUBLISHED,
    BenchError,
    Server,
    cpu_seconds,
    emulator_hosts,
    percentile,
    server_environment,
    stop,
    tail,
    wait_until_ready,
)
from contracts.envelope import EventEnvelope, derived_event_id
from contracts.events import MessageReceived
from contracts.events.outbound import (
    OutboundClaimed,
    OutboundKind,
    OutboundSent,
    OutboundSuppressed,
)
from contracts.streams import session_stream
from contracts.topics import EVENTS_TOPIC
from domain.ids import session_id_for
from ingress.samples import SampleKind, body, change, contact, encode, message, new_wamid
from ingress.signature import HEADER, signature_header
from ingress.webhook import PATH
from tests.emulators import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = (
    "Olá! Vi o anúncio de vocês e queria saber o preço do plano empresarial.",
    "Quero um chatbot para o atendimento da loja no WhatsApp.",
    "A empresa se chama Padaria Estrela.",
    "Estamos em Campinas.",
    "O orçamento é de uns 5 mil reais.",
    "Precisamos disso funcionando até o fim do mês.",
)
"""What each customer writes, one message after another. Six distinct texts stay below
the flood policy's light level (a score of 8 in 60 s)."""
TARGET = ("embedded", 300.0)  # back end, messages/s to a claimed reply at debounce 0
DEFAULT_DEBOUNCE_MS: int = Settings.model_fields["reply_debounce_ms"].default
WATCH_SUBSCRIPTION = "bench-pipeline-claims"
POLL_S = 0.005
CLAIMED = "claimed"
WARMUP_CONVERSATIONS = 20
CONNECTIONS = 32


@dataclass(frozen=True)
class Result:
    backend: str
    debounce_ms: int
    conversations: int
    messages: int
    claimed: int
    """Messages whose own reply was claimed: the only ones counted as done."""
    failed: int
    """Messages without a claimed reply: webhook refused, reply suppressed, or none
    claimed within the timeout."""
    messages_per_s: float
    """Claimed over the wall time of the load."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    seconds: float
    sent: int
    """Claimed replies the sender sent, by the end of the drain (or its timeout)."""
    sent_during_load: int
    """Of those, the ones sent when the load ended."""
    drain_s: float
    """How long after the load the sender took to send the other claimed replies."""
    sent_per_s: float
    """Claimed and sent over the load and the drain: what the whole path sustains."""
    server_cpu_percent: float
    """CPU the server used during the load, as % of one core (100 = a core throughout)."""
    server_cpu_ms_per_message: float
    """Server CPU from the load's start until every reply was sent, per message: the
    whole path's cost, steadier than the rates on a busy machine."""
    client_cpu_percent: float
    machine_cpu_percent: float
    """CPU used by everything on the machine during the load (200 = 2 cores busy)."""


@dataclass(frozen=True)
class Message:
    body: bytes
    headers: dict[str, str]
    correlation_id: str
    """The inbound envelope's, which its reply's `OutboundClaimed` carries."""


@dataclass(frozen=True)
class Conversation:
    stream_id: str
    """The session its first message opens (named after that message)."""
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Run:
    backend: str
    debounce_ms: int
    conversations: int
    messages: int


# -- the load ------------------------------------------------------------------------


def conversations(
    app_secret: bytes, hash_key: bytes, count: int, messages: int, start: int
) -> list[Conversation]:
    """`messages` signed webhook bodies spread over `count` contacts never seen before,
    each a new text message as Meta would send it. Built before any timing."""
    base, extra = divmod(messages, count)
    made = []
    for n in range(count):
        phone = f"+55119{start + n:08d}"
        texts = SCRIPT[: base + (n < extra)]
        items = tuple(_message(app_secret, hash_key, phone, text) for text in texts)
        made.append(Conversation(session_stream(session_id_for(items[0].correlation_id)), items))
    return made


def _message(app_secret: bytes, hash_key: bytes, phone: str, text: str) -> Message:
    wamid = new_wamid()
    item = message(SampleKind.TEXT, phone=phone, text=text, message_id=wamid)
    raw = encode(body(change(messages=[item], contacts=[contact(phone)])))
    headers = {HEADER: signature_header(app_secret, raw), "content-type": "application/json"}
    # the ingress names a message by its keyed ref, and its inbound event after that ref
    correlation_id = derived_event_id(message_ref(hash_key, wamid), MessageReceived.TYPE)
    return Message(raw, headers, correlation_id)


Seen = tuple[float, str]
"""When the bench saw a message's outcome (perf_counter) and what it was."""


class Claims:
    """The messages waiting for their reply, settled from a watcher's thread, and the
    replies seen sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[str, asyncio.Future[Seen]]] = {}
        self._sent: set[str] = set()

    def expect(self, correlation_id: str, stream_id: str) -> asyncio.Future[Seen]:
        future: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting[correlation_id] = (stream_id, future)
        return future

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._waiting.pop(correlation_id, None)

    def streams(self) -> set[str]:
        with self._lock:
            return {stream_id for stream_id, _ in self._waiting.values()}

    def sent(self) -> set[str]:
        with self._lock:
            return set(self._sent)

    def observe(self, event_type: str, correlation_id: str, payload: dict[str, object]) -> None:
        """An event a watcher read: a reply claimed or suppressed settles its message."""
        seen = time.perf_counter()
        if event_type == OutboundClaimed.TYPE and payload.get("kind") == OutboundKind.REPLY:
            outcome = CLAIMED
        elif event_type == OutboundSuppressed.TYPE:
            outcome = f"reply suppressed: {payload.get('reason')}"
        else:
            if event_type == OutboundSent.TYPE:
                with self._lock:
                    self._sent.add(correlation_id)
            return
        with self._lock:
            entry = self._waiting.pop(correlation_id, None)
        if entry is not None:
            future = entry[1]
            future.get_loop().call_soon_threadsafe(_resolve, future, (seen, outcome))


def _resolve(future: asyncio.Future[Seen], seen: Seen) -> None:
    if not future.done():  # cancelled by a timeout meanwhile
        future.set_result(seen)


@dataclass(frozen=True)
class Load:
    outcomes: list[float | str]
    """Per message, in order: its latency in seconds, or why it failed."""
    elapsed: float
    before: tuple[float, float, float]
    after: tuple[float, float, float]
    """`counters()` at the start and the end."""


def counters(pid: int) -> tuple[float, float, float]:
    """CPU seconds used so far by the server, this process and the whole machine."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields)
    machine_ticks = user + nice + system + irq + softirq
    return cpu_seconds(pid), time.process_time(), machine_ticks / os.sysconf("SC_CLK_TCK")


async def converse_all(
    server: Server, work: Sequence[Conversation], claims: Claims, timeout: float
) -> Load:
    """Every conversation at once, each sending its next message once the reply to the
    one before was claimed (or given up on). The clients (kept-alive connections) are
    made before the clock starts: each costs milliseconds of CPU for its SSL context."""
    pool: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    async with AsyncExitStack() as stack:
        for _ in range(min(CONNECTIONS, len(work))):
            client = httpx.AsyncClient(base_url=server.url, timeout=60)
            pool.put_nowait(await stack.enter_async_context(client))
        before, started = counters(server.pid), time.perf_counter()
        outcomes = await asyncio.gather(*(converse(c, pool, claims, timeout) for c in work))
        elapsed, after = time.perf_counter() - started, counters(server.pid)
    return Load([o for each in outcomes for o in each], elapsed, before, after)


async def converse(
    conversation: Conversation,
    pool: asyncio.Queue[httpx.AsyncClient],
    claims: Claims,
    timeout: float,
) -> list[float | str]:
    outcomes: list[float | str] = []
    for item in conversation.messages:
        reply = claims.expect(item.correlation_id, conversation.stream_id)
        client = await pool.get()
        started = time.perf_counter()
        try:
            response = await client.post(PATH, content=item.body, headers=item.headers)
            accepted = response.status_code == 200 and response.json() == PUBLISHED
        except httpx.HTTPError:
            accepted = False
        finally:
            pool.put_nowait(client)
        try:
            if not accepted:
                outcomes.append("webhook not answered 200 with one message published")
                continue
            seen, outcome = await asyncio.wait_for(reply, timeout)
            outcomes.append(seen - started if outcome == CLAIMED else outcome)
        except TimeoutError:
            outcomes.append(f"no reply claimed within {timeout:g} s")
        finally:
            claims.forget(item.correlation_id)
    return outcomes


# -- watching, without slowing the server --------------------------------------------


def read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)


@contextmanager
def watching_store(database: Path, claims: Claims) -> Iterator[Callable[[], set[str]]]:
    """Embedded: a thread reads the new events of the sessions with a message waiting,
    every `POLL_S`, on a read-only connection (a WAL reader never blocks the server's
    writer). Yields what tells the replies sent so far (one scan of the store)."""
    connection, stopped = read_only(database), threading.Event()
    read_up_to: dict[str, int] = {}
    failed: list[sqlite3.Error] = []

    def poll() -> None:
        streams = sorted(claims.streams())
        if not streams:
            return
        rows = connection.execute(
            f"WITH watched(stream_id, after) AS (VALUES {', '.join(['(?, ?)'] * len(streams))}) "
            "SELECT e.stream_id, e.version, e.type, e.correlation_id, e.payload "
            "FROM watched JOIN events AS e "
            "ON e.stream_id = watched.stream_id AND e.version > watched.after",
            [value for stream in streams for value in (stream, read_up_to.get(stream, 0))],
        ).fetchall()
        for stream, version, event_type, correlation_id, payload in rows:
            read_up_to[stream] = max(read_up_to.get(stream, 0), version)
            if event_type in (OutboundClaimed.TYPE, OutboundSuppressed.TYPE):
                claims.observe(event_type, correlation_id, json.loads(payload))

    def sent() -> set[str]:
        if failed:
            raise BenchError(f"the claims watcher stopped, so no claim was seen: {failed[0]!r}")
        query = "SELECT correlation_id FROM events WHERE type = ?"
        with closing(read_only(database)) as scan:
            return {row[0] for row in scan.execute(query, (OutboundSent.TYPE,))}

    def run() -> None:
        try:
            while not stopped.wait(POLL_S):
                poll()
        except sqlite3.Error as error:  # every message would time out: `sent` says why
            failed.append(error)

    thread = threading.Thread(target=run, name="claims-poll")
    thread.start()
    try:
        yield sent
    finally:
        stopped.set()
        thread.join()
        connection.close()


@contextmanager
def watching_bus(project: str, claims: Claims) -> Iterator[Callable[[], set[str]]]:
    """gcp: a subscription of the bench's own to the `events` topic (declared before
    the server publishes anything), pulled from the emulator."""
    from adapters.pubsub.bus import PubSubBus

    bus = PubSubBus(project)
    bus.declare(EVENTS_TOPIC, WATCH_SUBSCRIPTION)

    def handle(envelope: EventEnvelope) -> None:
        claims.observe(envelope.type, envelope.correlation_id, envelope.payload)

    bus.subscribe(WATCH_SUBSCRIPTION, handle, max_in_flight=16)
    try:
        yield claims.sent
    finally:
        bus.close()


# -- the server ----------------------------------------------------------------------


def serve_environment(run: Run, data_dir: Path, graph: str | None) -> dict[str, str]:
    """bench/ingress.py's (fresh data dir, secrets and gcp project), with the rules
    responder, the run's debounce and the sandbox channel (a fake WhatsApp on gcp,
    which has no sandbox)."""
    env = server_environment(run.backend, data_dir, os.urandom(16).hex())
    for key in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_API_BASE"):
        env.pop(key, None)
    env.update(RESPONDER="rules", REPLY_DEBOUNCE_MS=str(run.debounce_ms))
    if graph is not None:
        env.update(WHATSAPP_ACCESS_TOKEN="bench", WHATSAPP_API_BASE=graph)
    return env


@contextmanager
def running_serve(backend: str, data_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    """`switchboard serve` (the ingress and every worker) in its own process, on a
    free loopback port; its output goes to `server.log` in `data_dir`."""
    port, log = free_port(), data_dir / "server.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, str(port)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log)
        yield Server(backend, url, process.pid, env["WHATSAPP_APP_SECRET"].encode())
    finally:
        stop(process)
    if process.returncode not in (0, -signal.SIGTERM):
        raise BenchError(f"the {backend} server exited with {process.returncode}; see {log}")


FAKE_WHATSAPP = (
    "import sys, uvicorn; from tests.fake_graph import FakeGraph; "
    "uvicorn.run(FakeGraph().app, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')"
)


@contextmanager
def fake_whatsapp() -> Iterator[str]:
    """`tests/fake_graph.py`, which accepts every send, in its own process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_WHATSAPP, str(port)], cwd=ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("the fake WhatsApp did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


# -- profiling the server ------------------------------------------------------------


@contextmanager
def profiling(pid: int, directory: Path | None, name: str) -> Iterator[list[Path]]:
    """`py-spy record` on the server, sampled without pausing it: what holds the GIL
    (`-gil`, the CPU) and what every thread is doing, waits included (`-wall`).
    Collapsed stacks, one file each."""
    if directory is None:
        yield []
        return
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    spy = shutil.which("py-spy", path=search)
    if spy is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    outputs = {directory / f"{name}-gil.txt": "--gil", directory / f"{name}-wall.txt": "--idle"}
    command = [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
    spies = []
    for output, mode in outputs.items():
        spy_command = [*command, mode, "--format", "raw", "--output", str(output)]
        spies.append(subprocess.Popen(spy_command, stdout=subprocess.DEVNULL))
    time.sleep(1)  # attached before the load
    try:
        yield list(outputs)
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


PACKAGES = ("adapters", "app", "contracts", "domain", "ingress", "projections", "workers")


def profile_top(collapsed: Path, top: int = 12) -> list[str]:
    """Where the samples are in our code: each sample counts for the innermost frame
    of one of the project's packages (what it calls in libraries included), as % of
    the samples that have one (the others: idle pool threads, the HTTP server...)."""
    ours: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if _package(frame) in PACKAGES]
        if frames:
            name, _, where = frames[-1].partition(" (")
            ours[f"{name} ({where.rsplit(':', 1)[0]})"] += int(count)
    total = sum(ours.values()) or 1
    lines = [f"{collapsed} ({total} samples in our code):"]
    return lines + [f"  {100 * n / total:5.1f}%  {name}" for name, n in ours.most_common(top)]


def _package(frame: str) -> str:
    return frame.partition(" (")[2].split("/", 1)[0]


# -- one run -------------------------------------------------------------------------


def measure(
    run: Run, directory: Path, timeout: float, profile: Path | None, notes: list[str]
) -> tuple[Result, list[Path]]:
    label = f"{run.backend}, debounce {run.debounce_ms} ms"
    print(f"{label}:", file=sys.stderr)
    data_dir = directory / f"{run.backend}-{run.debounce_ms}"
    data_dir.mkdir(parents=True)
    gcp, claims = run.backend == "gcp", Claims()
    with ExitStack() as stack:
        env = serve_environment(
            run, data_dir, stack.enter_context(fake_whatsapp()) if gcp else None
        )
        secret, hash_key = env["WHATSAPP_APP_SECRET"].encode(), parse_hash_key(env["PII_HASH_KEY"])
        size = min(WARMUP_CONVERSATIONS, run.conversations)
        warmup = conversations(secret, hash_key, size, size, 0)
        work = conversations(secret, hash_key, run.conversations, run.messages, size)
        if gcp:  # subscribed before the server publishes anything
            sent = stack.enter_context(watching_bus(env["GCP_PROJECT"], claims))
        server = stack.enter_context(running_serve(run.backend, data_dir, env))
        if not gcp:  # once the server made the file
            sent = stack.enter_context(watching_store(data_dir / "switchboard.db", claims))
        warmed = asyncio.run(converse_all(server, warmup, claims, timeout)).outcomes
        if any(isinstance(outcome, str) for outcome in warmed):
            raise BenchError(f"the warm-up failed: {_reasons(warmed)}")
        with profiling(server.pid, profile, data_dir.name) as profiles:
            load = asyncio.run(converse_all(server, work, claims, timeout))
            drain = Drain(load, [m.correlation_id for c in work for m in c.messages], sent)
            drain.wait(timeout)
            server_cpu = cpu_seconds(server.pid) - load.before[0]
    result = _result(run, load, drain, server_cpu)
    print(
        f"  {result.messages_per_s:,.1f} messages/s claimed, p50 {result.p50_ms:,.1f} ms, "
        f"p99 {result.p99_ms:,.1f} ms, {result.failed} failed; {result.sent_per_s:,.1f}/s "
        "claimed and sent",
        file=sys.stderr,
    )
    if result.sent < result.claimed:
        notes.append(f"{label}: {result.claimed - result.sent} claimed replies not sent within "
                     f"{timeout:g} s after the load")  # fmt: skip
    if result.failed:
        notes.append(f"{label}: {_reasons(load.outcomes)}")
    if result.failed or result.sent < result.claimed:
        print(f"  the server's last lines:\n{tail(data_dir / 'server.log')}", file=sys.stderr)
    return result, profiles


class Drain:
    """After the load: the claimed replies the sender had sent, and the wait for the
    rest."""

    def __init__(
        self, load: Load, correlation_ids: list[str], sent: Callable[[], set[str]]
    ) -> None:
        outcomes = zip(correlation_ids, load.outcomes, strict=True)
        self._claimed = {cid for cid, outcome in outcomes if isinstance(outcome, float)}
        self._sent, self._started = sent, time.perf_counter()
        self.during_load = len(self._claimed & sent())
        self.sent, self.seconds = self.during_load, 0.0

    def wait(self, timeout: float) -> None:
        while self.sent < len(self._claimed) and time.perf_counter() - self._started < timeout:
            time.sleep(0.05)
            self.sent = len(self._claimed & self._sent())
        self.seconds = time.perf_counter() - self._started


def _reasons(outcomes: Sequence[float | str]) -> str:
    failures = Counter(outcome for outcome in outcomes if isinstance(outcome, str))
    return ", ".join(f"{count} x {reason}" for reason, count in failures.most_common())


def _result(run: Run, load: Load, drain: Drain, server_cpu: float) -> Result:
    ok = sorted(outcome for outcome in load.outcomes if isinstance(outcome, float))
    server, client, whole = (b - a for a, b in zip(load.before, load.after, strict=True))
    nan = float("nan")

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    def percent(cpu: float) -> float:
        return round(100 * cpu / load.elapsed, 1)

    return Result(
        backend=run.backend,
        debounce_ms=run.debounce_ms,
        conversations=run.conversations,
        messages=run.messages,
        claimed=len(ok),
        failed=len(load.outcomes) - len(ok),
        messages_per_s=round(len(ok) / load.elapsed, 1),
        p50_ms=ms(percentile(ok, 0.50)) if ok else nan,
        p99_ms=ms(percentile(ok, 0.99)) if ok else nan,
        max_ms=ms(ok[-1]) if ok else nan,
        seconds=round(load.elapsed, 2),
        sent=drain.sent,
        sent_during_load=drain.during_load,
        drain_s=round(drain.seconds, 2),
        sent_per_s=round(drain.sent / (load.elapsed + drain.seconds), 1),
        server_cpu_percent=percent(server),
        server_cpu_ms_per_message=round(1000 * server_cpu / len(ok), 2) if ok else nan,
        client_cpu_percent=percent(client),
        machine_cpu_percent=percent(whole),
    )


# -- reporting -----------------------------------------------------------------------


def verdict(results: Sequence[Result]) -> tuple[str, bool] | None:
    backend, rate = TARGET
    found = next((r for r in results if (r.backend, r.debounce_ms) == (backend, 0)), None)
    if found is None:
        return None
    held = found.messages_per_s >= rate and found.failed == 0
    label = f"{backend}: >= {rate:g} messages/s to a claimed reply, none failed"
    return f"{label}: {found.messages_per_s:,.1f}/s, {found.failed} failed", held


COLUMNS: tuple[tuple[str, Callable[[Result], str]], ...] = (
    ("back end", lambda r: r.backend),
    ("debounce", lambda r: f"{r.debounce_ms} ms"),
    ("conv.", lambda r: str(r.conversations)),
    ("messages", lambda r: str(r.messages)),
    ("failed", lambda r: str(r.failed)),
    ("claimed/s", lambda r: f"{r.messages_per_s:,.1f}"),
    ("p50 ms", lambda r: f"{r.p50_ms:,.1f}"),
    ("p99 ms", lambda r: f"{r.p99_ms:,.1f}"),
    ("max ms", lambda r: f"{r.max_ms:,.1f}"),
    ("sent in load", lambda r: str(r.sent_during_load)),
    ("drain", lambda r: f"{r.drain_s:,.1f} s"),
    ("sent/s", lambda r: f"{r.sent_per_s:,.1f}"),
    ("server CPU", lambda r: f"{r.server_cpu_percent:.0f}%"),
    ("CPU/msg", lambda r: f"{r.server_cpu_ms_per_message:.1f} ms"),
    ("client CPU", lambda r: f"{r.client_cpu_percent:.0f}%"),
    ("machine", lambda r: f"{r.machine_cpu_percent:.0f}%"),
)


def print_table(results: Sequence[Result], header: Sequence[str], notes: Sequence[str]) -> None:
    for line in header:
        print(line)
    table = Table(title="webhook POST to the OutboundClaimed of its reply (rules responder)")
    for name, _ in COLUMNS:
        table.add_column(name, justify="left" if name == "back end" else "right")
    for r in results:
        table.add_row(*(cell(r) for _, cell in COLUMNS))
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
    found = verdict(results)
    if found is not None:
        label, held = found
        print(f"{'PASS' if held else 'FAIL'}  {label}")
    for note in notes:
        print(f"note: {note}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--messages", type=positive, default=1500, help="timed messages (embedded)")
    add("--conversations", type=positive, default=300, help="contacts at once (embedded)")
    add("--gcp-messages", type=positive, default=150, help="timed messages on gcp")
    add("--gcp-conversations", type=positive, default=30, help="contacts at once on gcp")
    debounce = f"also run embedded at the default REPLY_DEBOUNCE_MS ({DEFAULT_DEBOUNCE_MS})"
    add("--default-debounce", action="store_true", help=debounce)
    add("--timeout", type=positive, default=60, help="seconds to wait for a reply's claim")
    add("--gcp", action="store_true", help="start the emulators for this run")
    add("--dir", type=Path, default=None, help="where the data dirs go")
    add("--profile", type=Path, default=None, help="py-spy the server; stacks in this dir")
    add("--json", action="store_true", help="print only the results, as JSON")
    args = parser.parse_args(argv)
    for messages, count in ((args.messages, args.conversations),
                            (args.gcp_messages, args.gcp_conversations)):  # fmt: skip
        if not count <= messages <= count * len(SCRIPT):
            parser.error(
                f"{messages} messages over {count} conversations: each conversation sends "
                f"1 to {len(SCRIPT)} messages (more would be a flood)"
            )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    notes: list[str] = []
    runs = [Run("embedded", 0, args.conversations, args.messages)]
    if args.default_debounce:
        runs.append(Run("embedded", DEFAULT_DEBOUNCE_MS, args.conversations, args.messages))
    results, profiles = [], []
    with (
        tempfile.TemporaryDirectory(prefix="switchboard-bench-", dir=args.dir) as tmp,
        emulator_hosts(args.gcp, notes) as gcp,
    ):
        directory = Path(tmp)
        if gcp:
            runs.append(Run("gcp", 0, args.gcp_conversations, args.gcp_messages))
        header = [
            f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"machine: {machine()}",
            f"python {platform.python_version()}, httpx {httpx.__version__}, "
            f"SQLite {sqlite3.sqlite_version}, data in {directory} ({filesystem(directory)})",
            "server: switchboard serve in its own process, RESPONDER=rules, REPLY_DEBOUNCE_MS "
            "as below (0 for throughput: each reply drafted at once); sandbox channel "
            "(embedded), a fake WhatsApp in its own process (gcp)",
            "load: each conversation sends its next message once the reply to the one before "
            f"is claimed, after a warm-up of {WARMUP_CONVERSATIONS} one-message conversations; "
            f"claims seen by polling the store every {POLL_S * 1000:g} ms read-only "
            "(embedded) or by an own subscription to `events` (gcp)",
        ]
        for run in runs:
            result, recorded = measure(run, directory, args.timeout, args.profile, notes)
            results.append(result)
            profiles += [line for path in recorded for line in profile_top(path)]
    if args.json:
        for line in [*profiles, *(f"note: {note}" for note in notes)]:
            print(line, file=sys.stderr)
        print(json.dumps({"results": [asdict(r) for r in results]}))
    else:
        print_table(results, header, notes)
        for line in profiles:
            print(line)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
