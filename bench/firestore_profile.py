"""Throughput and profile of `FirestoreEventStore` on the local Firestore emulator.

    .venv/bin/python -m bench.firestore_profile [--scale 1.0] [--py-spy PATH]

Starts its own emulator (tests/emulators.py), warms it up, then runs each scenario and
prints appends (or events) per second together with the CPU the client process and the
emulator spent per operation, which says who is the bottleneck. Then, if py-spy is
installed (`pip install py-spy`), it samples a single writer, a gate and a replay with
native frames and splits their time between waiting on the emulator, gRPC, the Google
client, pydantic and the adapter itself. Results: docs/firestore.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from google.cloud.firestore import Client

from adapters.firestore.eventstore import FirestoreEventStore
from contracts.envelope import Actor, NewEvent
from contracts.ports.eventstore import ConcurrencyError, StreamTransaction
from tests.emulators import Emulators, start

WRITERS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def new_event(n: int) -> NewEvent:
    return NewEvent(
        event_id=str(uuid.uuid4()),
        type="BenchHappened",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        correlation_id="bench",
        actor=Actor.SYSTEM,
        payload={"n": n, "text": "a short message body, like a WhatsApp reply"},
    )


def emulator_cpu_seconds(pgid: int) -> float:
    """CPU time of every process in the emulator's process group (gcloud + java)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is pgrp, [11] utime, [12] stime
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class Result:
    name: str
    operations: int
    wall: float
    client_cpu: float
    emulator_cpu: float
    note: str = ""

    def line(self) -> str:
        per_op = 1000 / self.operations
        return (
            f"{self.name:<44} {self.operations / self.wall:>8.0f}/s  "
            f"client {self.client_cpu * per_op:5.2f} ms  "
            f"emulator {self.emulator_cpu * per_op:5.2f} ms CPU/op  "
            f"({self.operations} in {self.wall:.1f} s{', ' + self.note if self.note else ''}; "
            f"load {os.getloadavg()[0]:.1f})"
        )


@contextmanager
def measured(name: str, pgid: int, results: list[Result]) -> Iterator[Result]:
    result = Result(name, 0, 0.0, 0.0, 0.0)
    wall, cpu, emulator = time.perf_counter(), time.process_time(), emulator_cpu_seconds(pgid)
    yield result
    result.wall = time.perf_counter() - wall
    result.client_cpu = time.process_time() - cpu
    result.emulator_cpu = emulator_cpu_seconds(pgid) - emulator
    results.append(result)
    print(result.line(), flush=True)


def in_threads(work: Callable[[int], object]) -> None:
    start_together = threading.Barrier(WRITERS)

    def run(writer: int) -> None:
        start_together.wait()
        work(writer)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def replay(store: FirestoreEventStore) -> int:
    cursor: str | None = None
    events = 0
    while True:
        page = store.read_all(cursor, limit=1000)
        events += len(page.events)
        if page.cursor is None:
            return events
        cursor = page.cursor


def single_writer(store: FirestoreEventStore, stream: str, count: int) -> None:
    for n in range(count):
        store.append(stream, [new_event(n)], expected_version=n)


def gate(tx: StreamTransaction, stream: str) -> int:
    """What an outbound gate does: check the kill switch, claim in the session."""
    mode = len(tx.read("system"))
    tx.append(stream, [new_event(mode)], expected_version=len(tx.read(stream)))
    return mode


def gates_in_turn(store: FirestoreEventStore, count: int) -> None:
    for n in range(count):
        store.transact(partial(gate, stream=f"session-turn{n % 25}"))


def gates(store: FirestoreEventStore, per_gate: int, pause_every: float | None) -> tuple[int, str]:
    """Gates read `system` and their session and claim in one transaction, while an
    operator may pause and resume every `pause_every` seconds."""
    runs: list[int] = []
    gave_up: list[int] = []

    def counted_gate(tx: StreamTransaction) -> int:
        runs.append(1)
        return gate(tx, f"session-gate{threading.get_ident()}")

    def claim(_: int) -> None:
        for _ in range(per_gate):
            try:
                store.transact(counted_gate)
            except ConcurrencyError:
                gave_up.append(1)

    stop = threading.Event()

    def operator() -> None:
        while pause_every and not stop.wait(pause_every):
            store.append("system", [new_event(0)], expected_version=store.version("system"))

    pauser = threading.Thread(target=operator)
    pauser.start()
    in_threads(claim)
    stop.set()
    pauser.join()
    commits = per_gate * WRITERS - len(gave_up)
    return commits, f"{len(runs) - per_gate * WRITERS} reruns, {len(gave_up)} gave up"


def rpc_costs(store: FirestoreEventStore, client: Client, pgid: int, n: int) -> None:
    """What one call of each kind costs, one at a time: the adapter's price list."""
    single_writer(store, "session-ten", 10)
    document = client.collection("events").document("session-ten:000000000005")
    new_streams = iter(range(10**9))
    calls: list[tuple[str, Callable[[], object]]] = [
        ("  get one document (BatchGet)", document.get),
        ("  version() of a 200-event stream (count)", lambda: store.version("session-warmup")),
        ("  read() of a 10-event stream (query)", lambda: store.read("session-ten")),
        (
            "  append to a new stream (one commit)",
            lambda: store.append(f"session-rpc{next(new_streams)}", [new_event(0)], 0),
        ),
        (
            "  transact reading 1 stream (query, begin, get, commit)",
            lambda: store.transact(lambda tx: tx.read("session-ten")),
        ),
    ]
    print("one call at a time:")
    for name, call in calls:
        with measured(name, pgid, []) as r:
            for _ in range(n):
                call()
            r.operations = n
    print()


def run(store: FirestoreEventStore, client: Client, pgid: int, scale: float) -> list[Result]:
    results: list[Result] = []
    n = max(int(200 * scale), 10)
    single_writer(store, "session-warmup", n)  # let the emulator's JIT settle
    replay(store)
    rpc_costs(store, client, pgid, n)

    with measured("1 writer, 1 stream, 1 event/append", pgid, results) as r:
        single_writer(store, "session-single", n)
        r.operations = n

    with measured("1 writer, a new stream per append", pgid, results) as r:
        for i in range(n):
            store.append(f"session-new{i}", [new_event(i)], expected_version=0)
        r.operations = n

    with measured("1 writer, 10 events/append", pgid, results) as r:
        for i in range(n // 4):
            events = [new_event(i * 10 + k) for k in range(10)]
            store.append("session-batch", events, expected_version=i * 10)
        r.operations = n // 4
        r.note = f"{n // 4 * 10} events"

    conflicts: list[int] = []
    with measured(f"{WRITERS} writers, 1 stream (version + append)", pgid, results) as r:

        def contend(writer: int) -> None:
            for i in range(n // WRITERS):
                while True:
                    version = store.version("session-hot")
                    try:
                        store.append("session-hot", [new_event(i)], expected_version=version)
                        break
                    except ConcurrencyError:
                        conflicts.append(writer)

        in_threads(contend)
        r.operations = n // WRITERS * WRITERS
        r.note = f"{len(conflicts)} conflicts"

    with measured(f"{WRITERS} writers, {WRITERS} streams", pgid, results) as r:
        in_threads(lambda writer: single_writer(store, f"session-own{writer}", n // 2))
        r.operations = n // 2 * WRITERS

    store.append("system", [new_event(0)], expected_version=0)
    for pause_every in (None, 1.0, 0.25):
        changing = f", system changes every {pause_every} s" if pause_every else ""
        with measured(f"{WRITERS} gates (transact){changing}", pgid, results) as r:
            r.operations, r.note = gates(store, n // 8, pause_every)

    with measured("read_all, pages of 1000 (events)", pgid, results) as r:
        r.operations = replay(store)

    with measured("read one stream of 500+ events (events)", pgid, results) as r:
        for _ in range(5):
            r.operations += len(store.read("session-batch"))
    return results


# A sample blocked in one of these (the innermost frames) is waiting, not working.
WAITS = ("epoll_wait", "pthread_cond_", "acquire_lock", "sem_wait", "sem_clockwait", "poll (")
# Otherwise the innermost frame that is not the interpreter, libc or the standard
# library says who works: `copy.deepcopy` called by `DocumentSnapshot` is the client's.
CATEGORIES = [
    ("/adapters/", "our adapter"),
    ("/contracts/", "our adapter"),
    ("/bench/", "the benchmark (building events)"),
    ("pydantic", "pydantic (envelope validation)"),
    ("/tenacity/", "tenacity (retry wrapper)"),
    ("/grpc/", "gRPC (Python, Cython and C core, socket writes)"),
    ("/google/", "Google client (firestore, api_core, proto-plus, protobuf)"),
    ("/proto/", "Google client (firestore, api_core, proto-plus, protobuf)"),
]
NOT_WHO = ("libc.so", "libpython", "ld-linux", "libstdc++", "/Python-3.", "?)", "): MainThread")


STDLIB = sysconfig.get_paths()["stdlib"]


def categorize(stack: str) -> str:
    frames = stack.split(";")
    if any(wait in frame for frame in frames[-3:] for wait in WAITS):
        if "Thread.start" in stack:
            return "waiting: gRPC starting a thread for a streaming call"
        if "/grpc/" in stack:
            return "waiting: for the emulator's answer (blocked in gRPC)"
        return "waiting: other"
    for frame in reversed(frames):
        path = frame.rsplit("(", 1)[-1]
        if not path.startswith((STDLIB, "<")) and not any(part in path for part in NOT_WHO):
            return next((name for part, name in CATEGORIES if part in path), "other: " + path)
    return "interpreter (GC, ...)"


def sampled(py_spy: str, name: str, work: Callable[[], object]) -> None:
    """Where the calling thread's wall time goes while it runs `work`: py-spy samples
    it with native frames, so a thread blocked in epoll or on a lock shows as waiting."""
    out = Path(tempfile.mkdtemp(prefix="py-spy-")) / "stacks.txt"
    command = [py_spy, "record", "--pid", str(os.getpid()), "--rate", "200", "--native"]
    command += ["--idle", "--threads", "--format", "raw", "--full-filenames", "-o", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert spy.stdout is not None
    spy.stdout.readline()  # "Sampling process ..." once attached
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    spy.send_signal(signal.SIGINT)
    spy.communicate()
    totals: dict[str, int] = {}
    for line in out.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        if stack.startswith(f"thread ({threading.get_native_id()})"):
            totals[categorize(stack)] = totals.get(categorize(stack), 0) + int(count)
    samples = sum(totals.values())
    print(
        f"\nprofile of {name}: {samples} samples over {wall:.1f} s (slowed by sampling); "
        f"client process CPU {cpu / wall:.0%} of wall"
    )
    for category, n in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {n / samples:6.1%}  {category}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="multiply operation counts")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy executable")
    args = parser.parse_args()

    emulators = start(Path(tempfile.mkdtemp(prefix="firestore-bench-")))
    pubsub_pid, firestore_pid = emulators.pids
    Emulators(emulators.pubsub_host, "", (pubsub_pid,)).stop()  # not needed here
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulators.firestore_host
        client = Client(project="switchboard-bench")
        store = FirestoreEventStore(client)
        print(f"emulator at {emulators.firestore_host}, {os.cpu_count()} CPUs\n")
        run(store, client, firestore_pid, args.scale)
        if args.py_spy is None:
            print("\nno profile: py-spy not found (pip install py-spy, or pass --py-spy)")
            return
        n = max(int(1000 * args.scale), 10)
        sampled(
            args.py_spy,
            f"1 writer, 1 stream ({n} appends)",
            lambda: single_writer(store, "session-spied", n),
        )
        sampled(
            args.py_spy,
            f"1 gate at a time ({n // 4} transactions)",
            lambda: gates_in_turn(store, n // 4),
        )
        sampled(args.py_spy, "read_all (3 replays)", lambda: [replay(store) for _ in range(3)])
        store.close()
    finally:
        Emulators("", emulators.firestore_host, (firestore_pid,)).stop()


if __name__ == "__main__":
    main()
