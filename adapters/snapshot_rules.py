"""The rules both `SnapshotStore` adapters enforce, so that what works on the embedded
back end works on Firestore: Firestore's limits on names, ids, integers, writes per
commit and queries, and one cursor format."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts import strict_json
from contracts.ports.snapshots import Document, InvalidCursor, Where, Write

MAX_WRITES = 500
"""Firestore's writes per transaction: documents and positions together."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")
FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED_ID = re.compile(r"__.*__")
CHANGED_AT = "_changed_at"
"""Where an adapter keeps a document's change stamp (`SnapshotStore.changes`): not a
field of the document, and not a name `FIELD` allows, so no document or query has it."""
_INT64 = range(-(2**63), 2**63)
RANGE_OPS = frozenset({">=", "<=", ">", "<"})
_OPS = RANGE_OPS | {"=="}


def check_name(name: str) -> bool:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid collection or projection name {name!r}: use [a-z][a-z0-9_]*")
    return True


def check_doc_id(doc_id: str) -> str:
    """Firestore's rules for a document name, enforced on every back end."""
    if (
        not doc_id
        or len(doc_id.encode()) > 1500
        or "/" in doc_id
        or doc_id in (".", "..")
        or _RESERVED_ID.fullmatch(doc_id)
    ):
        raise ValueError(
            f"invalid document id {doc_id!r}: 1 to 1500 bytes, no '/', not '.' or '..', not __*__"
        )
    return doc_id


def check_document(doc_id: str, data: Document) -> Document:
    """The document to store: without its `id` (the document id is), with top-level
    integers that fit 64 bits (Firestore's, so that every back end filters alike)."""
    if data.get("id", doc_id) != doc_id:
        raise ValueError(f"document {doc_id!r} has another id in its data: {data['id']!r}")
    if CHANGED_AT in data:
        raise ValueError(f"document {doc_id!r}: {CHANGED_AT!r} is the store's, not a field")
    for key, value in data.items():
        if isinstance(value, int) and value not in _INT64:
            raise ValueError(f"field {key!r} of {doc_id!r}: integers must fit in 64 bits")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"field {key!r} of {doc_id!r}: {value} is not JSON")
    # nested values that are not JSON are refused when the document is encoded
    return {key: value for key, value in data.items() if key != "id"}


def check_count(writes: Sequence[Write], positions: int = 1) -> Sequence[Write]:
    """At most `MAX_WRITES` writes, counting the positions stored with them."""
    if len(writes) + positions > MAX_WRITES:
        raise ValueError(
            f"{len(writes)} writes and {positions} position(s) in one commit; at most "
            f"{MAX_WRITES} together (Firestore's limit)"
        )
    return writes


def check_changes(where: Sequence[Where], since: str, limit: int) -> None:
    """`changes` takes equality filters and a stamp."""
    check_query(where, "id", limit)
    if any(w.op != "==" for w in where):
        raise ValueError("changes() filters by equality only")
    try:
        datetime.fromisoformat(since)
    except (TypeError, ValueError):
        raise ValueError(f"not a stamp: {since!r}") from None


def check_query(where: Sequence[Where], order_by: str, limit: int) -> None:
    """What every back end can answer: top-level fields; a range only on the field the
    query is ordered by (Firestore's rule); null only with ==."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if order_by != "id" and not FIELD.fullmatch(order_by):
        raise ValueError(f"cannot order by {order_by!r}: 'id' or a field [A-Za-z][A-Za-z0-9_]*")
    for w in where:
        if not FIELD.fullmatch(w.field) or w.field == "id":
            raise ValueError(f"cannot filter on {w.field!r}: a field [A-Za-z][A-Za-z0-9_]*")
        if w.op not in _OPS:
            raise ValueError(f"unknown operator {w.op!r}")
        if w.op in RANGE_OPS and w.field != order_by:
            raise ValueError(f"a range on {w.field!r} needs order_by={w.field!r}")
        if w.value is None and w.op != "==":
            raise ValueError("null can only be compared with ==")
        if isinstance(w.value, float) and not math.isfinite(w.value):
            raise ValueError(f"cannot compare with {w.value}")


def check_counting(where: Sequence[Where]) -> str:
    """What `count` can answer (what a query ordered by its range field can); returns
    that field, or "id" when there is no range."""
    ranged = {w.field for w in where if w.op in RANGE_OPS}
    if len(ranged) > 1:
        raise ValueError(f"ranges on one field at most, not on {sorted(ranged)}")
    field = next(iter(ranged), "id")
    check_query(where, field, 1)
    return field


def encode_cursor(order_by: str, last: Document) -> str:
    after = [last["id"]] if order_by == "id" else [last[order_by], last["id"]]
    return dumps({"order_by": order_by, "after": after})


def decode_cursor(cursor: str | None, order_by: str) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        decoded = strict_json.loads(cursor)
        after = decoded["after"]
        if (
            decoded["order_by"] == order_by
            and isinstance(after, list)
            and len(after) == (1 if order_by == "id" else 2)
            and isinstance(after[-1], str)
            and all(_cursor_value(value) for value in after)
        ):
            return after
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidCursor(f"not a cursor of a query ordered by {order_by!r}")


def _cursor_value(value: object) -> bool:
    """A scalar `encode_cursor` could have written."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value in _INT64
    return value is None or isinstance(value, str | bool)


def dumps(data: Document) -> str:
    return json.dumps(data, ensure_ascii=False, allow_nan=False)
