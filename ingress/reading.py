"""What the read API answers, from the snapshots (never from the event store)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from contracts import search_terms, strict_json
from contracts.api import (
    AssigneeFilter,
    AuditEntry,
    DeadLetterView,
    InboxCounts,
    LeadDetail,
    LeadView,
    MetricsReport,
    Page,
    SessionDetail,
    SessionSort,
    SessionSummary,
)
from contracts.ports.snapshots import InvalidCursor, SnapshotStore, Where
from contracts.ports.snapshots import Page as SnapshotPage
from contracts.ports.vault import SealBroken, Vault
from contracts.snapshots.messages import MessageLogEntry
from contracts.snapshots.session import OPEN_END, WAITING_END, SessionControl
from contracts.snapshots.system import SystemControl
from contracts.topics import SUBSCRIPTIONS
from domain.metrics_report import report
from ingress.errors import NotFound
from ingress.services import IngressServices

M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger(__name__)

Names = Callable[[str], str | None]
"""A contact's display name by `from_hash`."""


def names_in(vault: Vault) -> Names:
    """Display names opened from the vault. A forgotten contact has none; an entry that
    does not open costs its name, not the answer."""

    def name(from_hash: str) -> str | None:
        try:
            identity = vault.reveal(from_hash)
        except SealBroken as error:
            log.warning("display_name_unreadable", from_hash=from_hash, error=str(error))
            return None
        return identity.display_name if identity else None

    return name


def _named(item: M, names: Names) -> M:
    from_hash = getattr(item, "from_hash", None)
    name = names(from_hash) if isinstance(from_hash, str) else None
    return item.model_copy(update={"display_name": name}) if name else item


SEARCH_CONTACTS = 30
"""Contacts a search looks at: the first of those whose name matches."""
AUDIT_LIMIT = 500
"""Lead events shown with a lead; a longer history pages through `lead_events`."""


def as_model(model: type[M], document: dict[str, Any]) -> M:
    """The document as `model`, ignoring what the store adds (`id`, `updated_at`...)
    that the model does not declare."""
    return model.model_validate({k: v for k, v in document.items() if k in model.model_fields})


def _items(model: type[M], page: SnapshotPage, complete: str) -> list[M]:
    """Documents missing `complete` are partial (a lead's status merged in before its
    session was projected) and are left out."""
    return [as_model(model, doc) for doc in page.documents if doc.get(complete) is not None]


def list_sessions(
    snapshots: SnapshotStore,
    names: Names,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
    *,
    sort: SessionSort = SessionSort.LATEST,
    assignee: AssigneeFilter = AssigneeFilter.ALL,
    operator: str | None = None,
    contacts: Sequence[str] | None = None,
) -> Page[SessionSummary]:
    """One page of sessions: `filters` are equalities on the session document (None:
    any); `assignee` MINE needs `operator`; `contacts` (from `contacts_matching`)
    keeps the sessions of those contacts only, in one page. Every filter and sort is a
    store query on the document's own fields (`projections/inbox.py`)."""
    where = [Where(field, "==", value) for field, value in filters.items() if value is not None]
    if assignee is AssigneeFilter.MINE:
        if operator is None:
            raise ValueError("assignee MINE needs the operator asking")
        where.append(Where("human_assignee", "==", operator))
    elif assignee is AssigneeFilter.UNASSIGNED:
        where.append(Where("human_assignee", "==", None))
    if contacts is not None:
        if cursor is not None:
            raise InvalidCursor("a search answers in one page: it takes no cursor")
        documents, next_cursor = _searched(snapshots, where, sort, limit, contacts), None
    else:
        documents, next_cursor = _sessions_page(snapshots, where, sort, limit, cursor)
    page = SnapshotPage(documents, next_cursor)
    items = [_named(item, names) for item in _items(SessionSummary, page, "state")]
    return Page[SessionSummary](items=items, next_cursor=page.cursor)


def _sessions_page(
    snapshots: SnapshotStore, where: list[Where], sort: SessionSort, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    if sort is SessionSort.LATEST:
        page = snapshots.query(
            "sessions", where, order_by="updated_at", descending=True, limit=limit, cursor=cursor
        )
        return page.documents, page.cursor
    by_rank = _closed_as_rank_range(where)
    if sort is SessionSort.WAITING or any(w.field == "ready_for_human" for w in where):
        page = snapshots.query("sessions", by_rank, order_by="wait_rank", limit=limit,
                               cursor=cursor)  # fmt: skip
        return page.documents, page.cursor
    ready_first = [[*by_rank, Where("ready_for_human", "==", ready)] for ready in (True, False)]
    return _chained(snapshots, ready_first, limit, cursor)


def inbox_counts(snapshots: SnapshotStore, operator: str) -> InboxCounts:
    """Three counts, each one store count over an index (the matches' cost, not the
    inbox's)."""
    is_open = Where("wait_rank", "<", OPEN_END)
    waiting = Where("wait_rank", "<", WAITING_END)
    return InboxCounts(
        ready_for_human=snapshots.count(
            "sessions", [Where("ready_for_human", "==", True), is_open]
        ),
        mine=snapshots.count("sessions", [Where("human_assignee", "==", operator), is_open]),
        waiting_unassigned=snapshots.count(
            "sessions", [Where("human_assignee", "==", None), waiting]
        ),
    )


def contacts_matching(vault: Vault, snapshots: SnapshotStore, text: str) -> list[str]:
    """The contacts a search finds: by display name (the vault's blind index), or by
    the values collected for their lead (`lead_terms`); every word must match in one
    of the two."""
    named = vault.contacts_named(text, SEARCH_CONTACTS)
    found = list(dict.fromkeys([*named, *_collected_matching(snapshots, text)]))
    return found[:SEARCH_CONTACTS]


def _collected_matching(snapshots: SnapshotStore, text: str) -> list[str]:
    """The leads the first word's term names, kept when every other word's names them
    too: one query, then a read per candidate and word."""
    terms = search_terms.words(text)
    if not terms:
        return []
    first = [Where("term", "==", terms[0])]
    candidates = snapshots.query("lead_terms", first, limit=SEARCH_CONTACTS * 2).documents
    return [
        doc["from_hash"]
        for doc in candidates
        if all(snapshots.get("lead_terms", f"{t}:{doc['lead_id']}") for t in terms[1:])
    ]


def _searched(
    snapshots: SnapshotStore,
    where: list[Where],
    sort: SessionSort,
    limit: int,
    contacts: Sequence[str],
) -> list[dict[str, Any]]:
    """The first `limit` sessions of `contacts` in the order of `sort`: one query per
    contact (a contact has few sessions), merged."""
    latest = sort is SessionSort.LATEST
    ranged = where if latest else _closed_as_rank_range(where)
    order_by = "updated_at" if latest else "wait_rank"
    found: list[dict[str, Any]] = []
    for from_hash in contacts[:SEARCH_CONTACTS]:
        page = snapshots.query("sessions", [Where("from_hash", "==", from_hash), *ranged],
                               order_by=order_by, descending=latest, limit=limit)  # fmt: skip
        found += page.documents
    if latest:
        found.sort(key=lambda doc: (doc["updated_at"], doc["id"]), reverse=True)
    else:
        ready_first = sort is SessionSort.PRIORITY
        found.sort(key=lambda doc: (ready_first and not doc.get("ready_for_human"),
                                    doc["wait_rank"], doc["id"]))  # fmt: skip
    return found[:limit]


def _closed_as_rank_range(where: list[Where]) -> list[Where]:
    """`closed == x` as a range of `wait_rank`, the field sorted by: the store then
    walks the sort's index instead of sorting every open session."""
    ranged = [w for w in where if w.field != "closed"]
    for w in where:
        if w.field == "closed":
            ranged.append(Where("wait_rank", ">=" if w.value else "<", OPEN_END))
    return ranged


def _chained(
    snapshots: SnapshotStore, phases: list[list[Where]], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The matches of each `phases` query in turn, ordered by `wait_rank`, paged as
    one list. The cursor says which phase and where in it."""
    phase, after = _phase_cursor(cursor, len(phases))
    documents: list[dict[str, Any]] = []
    while phase < len(phases):
        page = snapshots.query("sessions", phases[phase], order_by="wait_rank",
                               limit=limit - len(documents), cursor=after)  # fmt: skip
        documents += page.documents
        if page.cursor is not None:
            return documents, json.dumps({"phase": phase, "after": page.cursor})
        phase, after = phase + 1, None
        if len(documents) == limit and phase < len(phases):
            return documents, json.dumps({"phase": phase, "after": None})
    return documents, None


def _phase_cursor(cursor: str | None, phases: int) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    try:
        decoded = strict_json.loads(cursor)
        phase, after = decoded["phase"], decoded["after"]
    except (ValueError, KeyError, TypeError):
        raise InvalidCursor("not a cursor of this session list") from None
    if type(phase) is not int or not 0 <= phase < phases or not isinstance(after, str | None):
        raise InvalidCursor("not a cursor of this session list")
    return phase, after


def session_detail(snapshots: SnapshotStore, names: Names, session_id: str) -> SessionDetail:
    session = snapshots.get("sessions", session_id)
    control = snapshots.get("session_controls", session_id)
    if session is None or control is None or session.get("state") is None:
        raise NotFound(f"no session {session_id!r}")
    return SessionDetail(
        session=_named(as_model(SessionSummary, session), names),
        control=as_model(SessionControl, control),
    )


def session_messages(
    snapshots: SnapshotStore, session_id: str, limit: int, cursor: str | None
) -> Page[MessageLogEntry]:
    where = [Where("session_id", "==", session_id)]
    page = snapshots.query("messages", where, order_by="seq", limit=limit, cursor=cursor)
    items = _items(MessageLogEntry, page, "seq")
    return Page[MessageLogEntry](items=items, next_cursor=page.cursor)


def session_audit(
    snapshots: SnapshotStore, session_id: str, limit: int, cursor: str | None
) -> Page[AuditEntry]:
    where = [Where("session_id", "==", session_id)]
    page = snapshots.query("decision_audit", where, order_by="version", limit=limit, cursor=cursor)
    return Page[AuditEntry](items=_items(AuditEntry, page, "version"), next_cursor=page.cursor)


def list_leads(
    snapshots: SnapshotStore,
    names: Names,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> Page[LeadView]:
    where = [Where(field, "==", value) for field, value in filters.items() if value is not None]
    page = snapshots.query(
        "leads", where, order_by="last_activity_at", descending=True, limit=limit, cursor=cursor
    )
    items = [_named(item, names) for item in _items(LeadView, page, "status")]
    return Page[LeadView](items=items, next_cursor=page.cursor)


def lead_detail(snapshots: SnapshotStore, names: Names, lead_id: str) -> LeadDetail:
    lead = snapshots.get("leads", lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id!r}")
    where = [Where("lead_id", "==", lead_id)]
    events = snapshots.query("lead_events", where, order_by="version", limit=AUDIT_LIMIT)
    audit = [as_model(AuditEntry, doc) for doc in events.documents]
    return LeadDetail(lead=_named(as_model(LeadView, lead), names), audit=audit)


def system_control(snapshots: SnapshotStore) -> SystemControl:
    found = snapshots.get("system_controls", "global")
    return as_model(SystemControl, found) if found else SystemControl()


def _everything(
    snapshots: SnapshotStore, collection: str, where: Sequence[Where]
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = snapshots.query(collection, where, order_by="day", limit=500, cursor=cursor)
        yield from page.documents
        if page.cursor is None:
            return
        cursor = page.cursor


def metrics(snapshots: SnapshotStore, start: date | None, end: date | None) -> MetricsReport:
    where = []
    if start is not None:
        where.append(Where("day", ">=", start.isoformat()))
    if end is not None:
        where.append(Where("day", "<=", end.isoformat()))
    facts = list(_everything(snapshots, "session_facts", where))
    days = list(_everything(snapshots, "metrics_days", where))
    first, last = (d.isoformat() if d else None for d in (start, end))
    return report(facts, days, first, last)


def dead_letters(
    services: IngressServices, snapshots: SnapshotStore, limit: int
) -> list[DeadLetterView]:
    """Webhook bodies kept sealed, and messages each worker gave up on, newest first."""
    found: list[DeadLetterView] = []
    kept = snapshots.query("dead_letters", order_by="received_at", descending=True, limit=limit)
    for doc in kept.documents:
        found.append(
            DeadLetterView(
                source="webhook", id=doc["id"], reason=doc.get("reason"), at=doc["received_at"]
            )
        )
    for subscription in SUBSCRIPTIONS:
        for letter in services.bus.dead_letters(subscription, limit=limit):
            envelope = letter.envelope
            found.append(
                DeadLetterView(
                    source=subscription,
                    id=letter.message_id,
                    reason=letter.error,
                    at=letter.dead_lettered_at,
                    attempts=letter.delivery_attempts,
                    event_type=envelope.type if envelope else None,
                    correlation_id=envelope.correlation_id if envelope else None,
                )
            )
    found.sort(key=lambda letter: letter.at, reverse=True)
    return found[:limit]
