"""What the read API answers, from the snapshots (never from the event store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from contracts.api import (
    AssigneeFilter,
    AuditEntry,
    DeadLetterView,
    LeadDetail,
    LeadView,
    MetricsReport,
    Page,
    SessionDetail,
    SessionSort,
    SessionSummary,
)
from contracts.ports.snapshots import Page as SnapshotPage
from contracts.ports.snapshots import SnapshotStore, Where
from contracts.ports.vault import SealBroken, Vault
from contracts.snapshots.messages import MessageLogEntry
from contracts.snapshots.session import SessionControl
from contracts.snapshots.system import SystemControl
from contracts.topics import SUBSCRIPTIONS
from domain.metrics_report import report
from ingress.errors import NotFound
from ingress.services import IngressServices
from ingress.session_list import contacts_matching as contacts_matching
from ingress.session_list import holder_filter, session_documents
from ingress.session_list import inbox_counts as inbox_counts

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
    where += holder_filter(assignee, operator)
    documents, next_cursor = session_documents(snapshots, where, sort, limit, cursor, contacts)
    page = SnapshotPage(documents, next_cursor)
    items = [_named(item, names) for item in _items(SessionSummary, page, "state")]
    return Page[SessionSummary](items=items, next_cursor=page.cursor)


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
