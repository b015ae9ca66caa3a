"""The session list's store queries: each filter, sort and search of the inbox as
queries on top-level fields of the session documents (`projections/inbox.py`), a page
read at a time; and the inbox's counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from contracts import search_terms, strict_json
from contracts.api import AssigneeFilter, InboxCounts, SessionSort
from contracts.ports.snapshots import InvalidCursor, SnapshotStore, Where
from contracts.ports.vault import Vault
from contracts.snapshots.session import OPEN_END, WAITING_END

SEARCH_CONTACTS = 30
"""Contacts a search looks at: the first of those it finds."""

Documents = list[dict[str, Any]]


def holder_filter(assignee: AssigneeFilter, operator: str | None) -> list[Where]:
    """`assignee` as filters; MINE needs `operator`."""
    if assignee is AssigneeFilter.MINE:
        if operator is None:
            raise ValueError("assignee MINE needs the operator asking")
        return [Where("human_assignee", "==", operator)]
    if assignee is AssigneeFilter.UNASSIGNED:
        return [Where("human_assignee", "==", None)]
    return []


def session_documents(
    snapshots: SnapshotStore,
    where: list[Where],
    sort: SessionSort,
    limit: int,
    cursor: str | None,
    contacts: Sequence[str] | None,
) -> tuple[Documents, str | None]:
    """One page of session documents and the cursor of the next; `contacts` (from
    `contacts_matching`) answers the sessions of those contacts only, in one page."""
    if contacts is None:
        return _sessions_page(snapshots, where, sort, limit, cursor)
    if cursor is not None:
        raise InvalidCursor("a search answers in one page: it takes no cursor")
    return _searched(snapshots, where, sort, limit, contacts), None


def _sessions_page(
    snapshots: SnapshotStore, where: list[Where], sort: SessionSort, limit: int, cursor: str | None
) -> tuple[Documents, str | None]:
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
) -> tuple[Documents, str | None]:
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
