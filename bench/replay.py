"""Replay benchmark: how fast `switchboard projections rebuild` turns events into every
snapshot, and how much memory it takes, over generated conversations, on each back end.

    .venv/bin/python bench/replay.py [--events N] [--json] [--gcp]

The events are realistic conversations (sessions with customer messages, drafts, claims,
sends and delivery statuses; leads with their statuses and collected fields; operator
commands), appended through the `EventStore` port. The rebuild then runs in a process of
its own, so that its peak memory (`ru_maxrss`) is the rebuild's alone; it runs at N and
at N/4, to show whether memory grows with the number of events (it should not: the
store is read a page at a time).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

import contracts.events as ev
from bench.eventstore import filesystem, machine, positive
from contracts.commands import TakeOver
from contracts.envelope import Actor, Event, NewEvent
from contracts.ports.eventstore import EventStore
from contracts.streams import command_stream, lead_stream, session_stream
from contracts.vocabulary import (
    FieldSource,
    LeadField,
    LeadStatus,
    MessageStatus,
    MessageType,
    SessionMode,
)

TARGET_EVENTS_PER_S = 20_000.0  # embedded (issue 5)
EMULATOR_VARIABLES = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")
T0 = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
FIELDS = [
    (LeadField.SERVICE_INTEREST, "CUSTOM_SOFTWARE"),
    (LeadField.COMPANY_NAME, "Acme Tecnologia"),
    (LeadField.CITY, "Curitiba"),
    (LeadField.BUDGET_RANGE, "R$ 30 mil a R$ 50 mil"),
    (LeadField.DEADLINE, "em três meses"),
]
TEXTS = ["Olá", "Software sob medida", "Acme Tecnologia", "Curitiba", "uns 40 mil", "março"]


@dataclass(frozen=True)
class Result:
    backend: str
    events: int
    events_per_s: float
    peak_rss_mb: float
    seconds: float
    """The whole rebuild: the replay, plus waiting 2 s for live projectors to see the new
    generations, plus the switch and dropping the old documents."""


def _hex(*parts: object) -> str:
    import hashlib

    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


class _Stream:
    """Events of one stream, numbered as they are made."""

    def __init__(self, stream_id: str, start: datetime) -> None:
        self.stream_id = stream_id
        self.events: list[NewEvent] = []
        self.at = start

    def add(self, event: Event, actor: Actor = Actor.SYSTEM, *, after_s: float = 1.0) -> None:
        self.at += timedelta(seconds=after_s)
        self.events.append(
            NewEvent.of(
                event,
                event_id=str(uuid.uuid4()),
                occurred_at=self.at,
                actor=actor,
                correlation_id=self.stream_id,
            )
        )


def conversation(n: int, rng: random.Random) -> list[_Stream]:
    """One contact's conversation: a session, its lead, sometimes a takeover command."""
    from_hash, start = _hex("contact", n), T0 + timedelta(minutes=n)
    session_id, lead_id = _hex("session", n)[:32], _hex("lead", n)[:32]
    session = _Stream(session_stream(session_id), start)
    lead = _Stream(lead_stream(lead_id), start)
    line = "106540352242922"
    session.add(ev.SessionStarted(lead_id=lead_id, from_hash=from_hash, business_number_id=line))
    lead.add(ev.LeadOpened(from_hash=from_hash, session_id=session_id))
    lead.add(
        ev.LeadStatusChanged(
            status=LeadStatus.QUALIFYING,
            previous_status=LeadStatus.OPEN,
            reason="the bot is qualifying",
        )
    )
    exchanges = rng.randint(2, len(TEXTS))
    for turn in range(exchanges):
        ref, out = _hex("in", n, turn), _hex("out", n, turn)[:32]
        session.add(
            ev.MessageReceived(
                wa_message_ref=ref,
                from_hash=from_hash,
                type=MessageType.TEXT,
                body_sanitized=TEXTS[turn],
                business_number_id=line,
            ),
            Actor.USER,
        )
        reply = f"Obrigado, anotei! Pergunta {turn + 1}."
        session.add(
            ev.ReplyDrafted(
                outbound_id=out,
                control_version=0,
                in_reply_to=(ref,),
                text=reply,
                intent="provide_info",
                responder="rules",
                latency_ms=3,
            ),
            Actor.LLM,
            after_s=0.2,
        )
        session.add(
            ev.OutboundClaimed(
                outbound_id=out,
                kind=ev.OutboundKind.REPLY,
                text=reply,
                to_hash=from_hash,
                control_version=0,
            ),
            Actor.LLM,
            after_s=0.01,
        )
        session.add(
            ev.OutboundSendStarted(outbound_id=out, control_version=0, global_version=0),
            after_s=0.01,
        )
        sent = _hex("wamid", n, turn)
        session.add(ev.OutboundSent(outbound_id=out, wa_message_ref=sent), after_s=0.2)
        for status in (MessageStatus.DELIVERED, MessageStatus.READ):
            session.add(
                ev.MessageStatusUpdated(outbound_id=out, wa_message_ref=sent, status=status)
            )
        if turn < len(FIELDS):
            field, value = FIELDS[turn]
            lead.add(
                ev.LeadFieldCollected(
                    field=field,
                    value=value,
                    source=FieldSource.LLM,
                    inferred=True,
                    confidence=0.9,
                    evidence_message_ref=ref,
                ),
                Actor.LLM,
            )
    streams = [session, lead]
    if rng.random() < 0.2:
        command_id = _hex("command", n)[:32]
        command = _Stream(command_stream(command_id), session.at)
        takeover = TakeOver(
            target_session_id=session_id, reason="lead quente", command_id=command_id
        )
        command.add(
            ev.CommandRequested(command=takeover, requested_by="ana", requested_at=command.at),
            Actor.HUMAN,
        )
        session.add(
            ev.ControlChanged(
                mode=SessionMode.HUMAN_TAKEOVER,
                human_assignee="ana",
                reason="lead quente",
                version=1,
                by="ana",
            ),
            Actor.HUMAN,
        )
        lead.add(
            ev.LeadStatusChanged(
                status=LeadStatus.IN_HUMAN,
                previous_status=LeadStatus.QUALIFYING,
                reason="taken over by ana",
                by="ana",
            ),
            Actor.HUMAN,
        )
        command.add(ev.CommandApplied(result="control v0 → v1: HUMAN_TAKEOVER by ana"))
        streams.append(command)
    return streams


def generate(store: EventStore, events: int, seed: int = 7) -> int:
    """Append conversations until `events` are recorded; how many were."""
    rng, made, n = random.Random(seed), 0, 0
    while made < events:
        for stream in conversation(n, rng):
            store.append(stream.stream_id, stream.events, expected_version=0)
            made += len(stream.events)
        n += 1
    return made


# --- the rebuild, in a process of its own ------------------------------------------------


def rebuild_child(backend: str) -> None:
    """Run in the child: rebuild every projection, print seconds and events as JSON."""
    from app.bootstrap import open_event_store, open_snapshots
    from app.settings import Settings
    from projections.catalogue import PROJECTIONS
    from projections.rebuild import rebuild

    settings = Settings()
    store, snapshots = open_event_store(settings), open_snapshots(settings)
    started = time.perf_counter()
    rebuilt = rebuild(store, snapshots, PROJECTIONS)
    seconds = time.perf_counter() - started
    snapshots.close()
    store.close()
    print(json.dumps({"events": rebuilt.events, "seconds": seconds, "replay_s": rebuilt.replay_s}))


def measure(backend: str, environment: dict[str, str]) -> tuple[int, float, float, float]:
    """(events, seconds of the whole rebuild, seconds of its replay, peak RSS in MB) of a
    rebuild in a fresh interpreter."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", backend],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the rebuild failed: {child.stderr[-2000:]}")
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (int(outcome["events"]), float(outcome["seconds"]), float(outcome["replay_s"]),
            peak_kb / 1024)  # fmt: skip


def environment_for(backend: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in EMULATOR_VARIABLES}
    env.update(
        SWITCHBOARD_BACKEND=backend,
        SWITCHBOARD_DATA_DIR=str(data_dir),
        SWITCHBOARD_LOG_FORMAT="json",
        PII_HASH_KEY="x" * 44,
        PII_ENCRYPTION_KEYS="k1:" + "A" * 43 + "=",
    )
    if backend == "gcp":
        env.update({k: os.environ[k] for k in EMULATOR_VARIABLES})
        env["GCP_PROJECT"] = f"sb-replay-{uuid.uuid4().hex[:8]}"
    return env


def run(backend: str, events: int, directory: Path) -> Result:
    """Generate `events` on a fresh back end, then rebuild them in a child process."""
    data_dir = directory / f"{backend}-{events}"
    env = environment_for(backend, data_dir)
    os.environ.update({k: env[k] for k in ("SWITCHBOARD_BACKEND", "SWITCHBOARD_DATA_DIR")})
    if backend == "gcp":
        os.environ["GCP_PROJECT"] = env["GCP_PROJECT"]
    from app.bootstrap import open_event_store
    from app.settings import Settings

    store = open_event_store(Settings())
    print(f"{backend}: generating {events:,} events", file=sys.stderr)
    made = generate(store, events)
    store.close()
    print(f"{backend}: rebuilding {made:,} events", file=sys.stderr)
    replayed, seconds, replay_s, peak_mb = measure(backend, env)
    if replayed != made:
        raise RuntimeError(f"rebuilt {replayed} events of {made}")
    result = Result(
        backend, replayed, round(replayed / replay_s, 1), round(peak_mb, 1), round(seconds, 2)
    )
    print(
        f"  {result.events:,} events: {result.events_per_s:,.0f} events/s, "
        f"peak RSS {result.peak_rss_mb} MB",
        file=sys.stderr,
    )
    return result


@dataclass(frozen=True)
class Plan:
    backend: str
    events: Sequence[int]


def plans(args: argparse.Namespace) -> Iterator[Plan]:
    yield Plan("embedded", sorted({max(1, args.events // 4), args.events}))
    if args.gcp or all(os.environ.get(k) for k in EMULATOR_VARIABLES):
        yield Plan("gcp", sorted({max(1, args.gcp_events // 4), args.gcp_events}))


def print_table(results: Sequence[Result], header: Sequence[str]) -> None:
    for line in header:
        print(line)
    table = Table(title="switchboard projections rebuild (every projection)")
    for column in ("back end", "events", "events/s", "seconds", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "back end" else "right")
    for r in results:
        table.add_row(
            r.backend,
            f"{r.events:,}",
            f"{r.events_per_s:,.0f}",
            f"{r.seconds:,.1f}",
            f"{r.peak_rss_mb:,.1f}",
        )
    Console(width=120).print(table)
    embedded = [r for r in results if r.backend == "embedded"]
    if embedded:
        best = max(embedded, key=lambda r: r.events)
        held = best.events_per_s >= TARGET_EVENTS_PER_S
        print(
            f"{'PASS' if held else 'FAIL'}  >= {TARGET_EVENTS_PER_S:,.0f} events/s on "
            f"embedded: {best.events_per_s:,.0f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=positive, default=100_000)
    parser.add_argument("--gcp-events", type=positive, default=100_000)
    parser.add_argument("--gcp", action="store_true", help="start the emulators for this run")
    parser.add_argument("--json", action="store_true", help="print only the results, as JSON")
    parser.add_argument("--dir", type=Path, default=None, help="where the data dirs go")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rebuild_child(args.child)
        return 0
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="switchboard-replay-", dir=args.dir) as tmp:
        directory = Path(tmp)
        from bench.ingress import emulator_hosts

        notes: list[str] = []
        with emulator_hosts(args.gcp, notes) as gcp:
            for plan in plans(args):
                if plan.backend == "gcp" and not gcp:
                    continue
                for events in plan.events:
                    results.append(run(plan.backend, events, directory))
        header = [
            f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"machine: {machine()}",
            f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"data in {directory} ({filesystem(directory)})",
        ]
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results]}))
    else:
        print_table(results, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
