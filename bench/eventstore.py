"""Event store benchmark: our stores, the `eventsourcing` library's SQLite persistence
and raw `sqlite3`, side by side on the same work and at the same durability.

    .venv/bin/python bench/eventstore.py [--events N] [--json] [--firestore]

See bench/README.md for what each case measures and why the comparison is fair.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too

import argparse
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial

from rich.console import Console
from rich.table import Table

from bench.systems import (
    PAGE,
    SQLITE_SYSTEMS,
    System,
    firestore_host,
    switchboard_firestore,
)
from bench.workload import BATCH, STREAMS, WRITE_CASES, Call, one_per_stream

THREADS = 8  # appender threads in case a8
BASELINE = "eventsourcing-sqlite"


class BenchError(RuntimeError):
    """A system did not do the work it was given (e.g. read back fewer events)."""


@dataclass(frozen=True)
class Result:
    system: str
    case: str
    events_per_s: float


@dataclass(frozen=True)
class Contender:
    system: System
    events: int  # N for this system: the emulator gets fewer


def timed(runs: Sequence[Callable[[], None]]) -> float:
    """Seconds to run every one of `runs` concurrently (one thread each)."""
    if len(runs) == 1:
        started = time.perf_counter()
        runs[0]()
        return time.perf_counter() - started
    errors: list[BaseException] = []
    gate = threading.Barrier(len(runs) + 1)

    def work(run: Callable[[], None]) -> None:
        gate.wait()
        try:
            run()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def progress(result: Result) -> Result:
    print(
        f"  {result.case:>4}  {result.system:<22} {result.events_per_s:>12,.0f} events/s",
        file=sys.stderr,
    )
    return result


def run_sequential(contenders: Sequence[Contender], notes: list[str]) -> list[Result]:
    """Cases a, b, c, then read everything back, system after system within each case.
    A system that fails is reported in `notes` and left out of the later cases."""
    results: list[Result] = []
    failed: set[str] = set()

    def measure(contender: Contender, case: str, events_per_s: Callable[[], float]) -> None:
        name = contender.system.name
        if name in failed:
            return
        try:
            results.append(progress(Result(name, case, events_per_s())))
        except Exception as error:
            failed.add(name)
            notes.append(f"{name} failed in case {case} and was left out after it: {error!r}")

    def append(contender: Contender, case: str, calls: dict[int, list[Call]]) -> float:
        n = contender.events
        if n not in calls:
            calls[n] = WRITE_CASES[case](n)
        return n / timed([contender.system.appender(calls[n])])

    def read(contender: Contender) -> float:
        expected = len(WRITE_CASES) * contender.events
        started = time.perf_counter()
        count = contender.system.read_all()
        elapsed = time.perf_counter() - started
        if count != expected:
            raise BenchError(f"read back {count} events, not the {expected} appended")
        return count / elapsed

    for case in WRITE_CASES:
        calls: dict[int, list[Call]] = {}  # the same work for every system of one N
        for contender in contenders:
            measure(contender, case, partial(append, contender, case, calls))
    for contender in contenders:
        measure(contender, "read", partial(read, contender))
    return results


def run_concurrent(directory: Path, n: int) -> list[Result]:
    """Case a8: `THREADS` threads append one event per call to new streams, each system
    on a fresh file."""
    work = one_per_stream("p", n)
    results = []
    for name, open_system in SQLITE_SYSTEMS.items():
        system = open_system(directory / f"{name}-a8.db")
        try:
            runs = [system.appender(work[t::THREADS]) for t in range(THREADS)]
            results.append(progress(Result(name, "a8", n / timed(runs))))
        finally:
            system.close()
    return results


# -- reporting ----------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def filesystem(path: Path) -> str:
    """The file system type under `path` (tmpfs would make every fsync free)."""
    mounts = Path("/proc/mounts")
    if not mounts.exists():
        return "unknown file system"
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in mounts.read_text().splitlines():
        _, point, fs_type, *_ = line.split()
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs_type
    return kind


def ratio(results: Sequence[Result], result: Result) -> float | None:
    baseline = next((r for r in results if r.system == BASELINE and r.case == result.case), None)
    return result.events_per_s / baseline.events_per_s if baseline else None


def targets(results: Sequence[Result]) -> list[tuple[str, bool]]:
    """The issue's targets for the embedded store, where the figures are present."""
    rate = {(r.system, r.case): r.events_per_s for r in results}
    ours = "switchboard-sqlite"
    checks = [
        ("a: switchboard-sqlite >= 1.5x eventsourcing-sqlite", ("a", BASELINE), 1.5),
        ("a: switchboard-sqlite >= 60% of raw sqlite3", ("a", "sqlite3"), 0.6),
        ("a8: group commit beats raw sqlite3 (8 threads)", ("a8", "sqlite3"), 1.0),
    ]
    verdicts = [
        (
            f"{label}: {rate[(ours, case)] / rate[(other, case)]:.2f}x",
            rate[(ours, case)] >= factor * rate[(other, case)],
        )
        for label, (case, other), factor in checks
        if (ours, case) in rate and (other, case) in rate
    ]
    if (ours, "read") in rate:
        verdicts.append(
            (
                f"read: switchboard-sqlite >= 100,000 events/s: {rate[(ours, 'read')]:,.0f}",
                rate[(ours, "read")] >= 100_000,
            )
        )
    return verdicts


def print_table(results: Sequence[Result], header: Sequence[str], notes: Sequence[str]) -> None:
    print(*header, sep="\n")
    systems = list(dict.fromkeys(r.system for r in results))
    rates = {(r.system, r.case): r for r in results}
    table = Table(title="events/s (x eventsourcing-sqlite)")
    table.add_column("case")
    for system in systems:
        table.add_column(system, justify="right")
    for case in dict.fromkeys(r.case for r in results):
        cells = []
        for system in systems:
            result = rates.get((system, case))
            factor = ratio(results, result) if result else None
            suffix = f" ({factor:.2f}x)" if factor is not None else ""
            cells.append(f"{result.events_per_s:,.0f}{suffix}" if result else "-")
        table.add_row(case, *cells)
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)
    for label, held in targets(results):
        print(f"{'PASS' if held else 'FAIL'}  {label}")
    for note in notes:
        print(f"note: {note}")


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return int(text)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=positive, default=20_000, help="N for the SQLite systems")
    parser.add_argument(
        "--firestore-events",
        type=positive,
        default=500,
        help="N for Firestore (the emulator is slow)",
    )
    parser.add_argument(
        "--firestore", action="store_true", help="start the Firestore emulator for this run"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the database files go")
    parser.add_argument("--json", action="store_true", help="print only the results, as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="switchboard-bench-", dir=args.dir) as tmp,
        firestore_host(args.firestore, notes) as host,
    ):
        directory = Path(tmp)
        contenders = [
            Contender(open_system(directory / f"{name}.db"), args.events)
            for name, open_system in SQLITE_SYSTEMS.items()
        ]
        if host:
            contenders.append(Contender(switchboard_firestore(host), args.firestore_events))
            notes.append(
                f"switchboard-firestore runs {args.firestore_events} events per case "
                f"(the others {args.events}): events/s are comparable, totals are not"
            )
        header = [
            f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"machine: {machine()}",
            f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"files in {directory} ({filesystem(directory)})",
            f"N = {args.events} events per case; {STREAMS} streams in b and c; "
            f"{BATCH} events per call in c; read = all {len(WRITE_CASES)}N events in pages "
            f"of {PAGE}; a8 = case a from {THREADS} threads",
            *(f"durability of {c.system.name}: {c.system.durability()}" for c in contenders),
        ]
        try:
            results = run_sequential(contenders, notes)
        finally:
            for contender in contenders:
                contender.system.close()
        results += run_concurrent(directory, args.events)
    if args.json:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(json.dumps({"results": [asdict(r) for r in results]}))
    else:
        print_table(results, header, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
