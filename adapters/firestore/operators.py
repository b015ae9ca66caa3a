"""The `OperatorDirectory` on Firestore.

`{prefix}operators/{name}` is the operator (with the digest of their current token);
`{prefix}operator_tokens/{sha256}` holds the active operator of that token, so that
`authenticate` is a single get. Revoking deletes the token document.
`{prefix}console_sessions/{sha256 of the session id}` is a console session, with the
digest of the token that opened it: it names an operator only while that token's
document exists, so revoking the operator (or re-adding the name) ends it at once.

Writes take no lock: each is a batch guarded by a precondition on the operator
document (`create` for a new name, the last update time it was read at otherwise), so
of two concurrent writers of one name exactly one commits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core.exceptions import Conflict, FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot

from adapters.credentials import (
    check_operator_name,
    is_operator_name,
    mint_session_id,
    mint_token,
    session_digest,
    token_digest,
)
from contracts.operators import Operator, Role
from contracts.ports.operators import OperatorExists, UnknownOperator

# AlreadyExists (a create on a taken name) is a Conflict; a stale update time is a
# FailedPrecondition.
_LOST_RACE = (Conflict, FailedPrecondition)


class FirestoreOperatorDirectory:
    def __init__(self, client: firestore.Client, collection_prefix: str = "") -> None:
        self._client = client
        self._operators = client.collection(f"{collection_prefix}operators")
        self._tokens = client.collection(f"{collection_prefix}operator_tokens")
        self._sessions = client.collection(f"{collection_prefix}console_sessions")

    def add(self, name: str, role: Role) -> str:
        ref = self._operators.document(check_operator_name(name))
        snapshot = ref.get()
        if _active(snapshot):
            raise OperatorExists(f"operator {name!r} already exists; revoke it first")
        token, digest = mint_token()
        operator = {"name": name, "role": role.value, "created_at": datetime.now(UTC)}
        record = {**operator, "token_sha256": digest, "revoked_at": None}
        batch = self._client.batch()
        if snapshot.exists:  # revoked: take the name over, unless someone else just did
            batch.update(ref, record, option=self._unchanged_since(snapshot))
        else:
            batch.create(ref, record)
        batch.create(self._tokens.document(digest), operator)
        try:
            batch.commit()
        except _LOST_RACE:
            raise OperatorExists(f"operator {name!r} was just added by someone else") from None
        return token

    def authenticate(self, token: str) -> Operator | None:
        """Found by digest, not compared: see `token_digest` on why timing is safe."""
        digest = token_digest(token)
        if digest is None:
            return None
        snapshot = self._tokens.document(digest).get()
        data = snapshot.to_dict() if snapshot.exists else None
        return None if data is None else _operator(data)

    def list(self) -> list[Operator]:
        snapshots = self._operators.order_by("__name__").stream()
        return [_operator(data) for s in snapshots if (data := s.to_dict()) is not None]

    def revoke(self, name: str) -> Operator:
        unknown = UnknownOperator(f"no active operator is named {name!r}")
        if not is_operator_name(name):
            raise unknown
        ref = self._operators.document(name)
        snapshot = ref.get()
        data = snapshot.to_dict() if _active(snapshot) else None
        if data is None:
            raise unknown
        revoked_at = datetime.now(UTC)
        batch = self._client.batch()
        batch.update(ref, {"revoked_at": revoked_at}, option=self._unchanged_since(snapshot))
        batch.delete(self._tokens.document(data["token_sha256"]))
        try:
            batch.commit()
        except _LOST_RACE:  # only a revoke changes an active operator
            raise unknown from None
        return _operator({**data, "revoked_at": revoked_at})

    def open_session(self, token: str, now: datetime) -> str | None:
        digest = token_digest(token)
        if digest is None:
            return None
        holder = self._tokens.document(digest).get()
        data = holder.to_dict() if holder.exists else None
        if data is None:
            return None
        session_id, session_sha256 = mint_session_id()
        record = {"token_sha256": digest, "operator": data["name"], "created_at": now,
                  "last_seen_at": now}  # fmt: skip
        self._sessions.document(session_sha256).create(record)
        return session_id

    def session(
        self, session_id: str, now: datetime, idle: timedelta, touch: bool = True
    ) -> Operator | None:
        digest = session_digest(session_id)
        if digest is None:
            return None
        ref = self._sessions.document(digest)
        snapshot = ref.get()
        record = snapshot.to_dict() if snapshot.exists else None
        if record is None:
            return None
        if record["last_seen_at"] + idle < now:
            ref.delete()
            return None
        holder = self._tokens.document(record["token_sha256"]).get()
        data = holder.to_dict() if holder.exists else None
        if data is None:
            return None
        if touch and record["last_seen_at"] < now:
            try:
                ref.update({"last_seen_at": now})
            except NotFound:  # signed out meanwhile
                return None
        return _operator(data)

    def close_session(self, session_id: str) -> None:
        digest = session_digest(session_id)
        if digest is not None:
            self._sessions.document(digest).delete()

    def _unchanged_since(self, snapshot: DocumentSnapshot[Any]) -> Any:
        return self._client.write_option(last_update_time=snapshot.update_time)


def _active(snapshot: DocumentSnapshot[Any]) -> bool:
    data = snapshot.to_dict() if snapshot.exists else None
    return data is not None and data.get("revoked_at") is None


def _operator(data: dict[str, Any]) -> Operator:
    return Operator(
        name=data["name"],
        role=Role(data["role"]),
        created_at=data["created_at"],
        revoked_at=data.get("revoked_at"),
    )
