"""`Channel` for `switchboard serve` without WhatsApp credentials: every message goes
to a local outbox file, one JSON line each, instead of to a customer.

The outbox records what was said and from which business line, never to whom: a
phone number or user id is not stored in clear anywhere in Switchboard.
"""

from __future__ import annotations

import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import StringConstraints

from adapters.private_files import private_file
from contracts.frozen import Frozen
from contracts.ports.channel import Recipient, Sent

RecipientKind = Literal["phone", "user_id"]


class SandboxMessage(Frozen):
    """One line of the outbox."""

    wa_message_id: Annotated[str, StringConstraints(pattern=r"^wamid\.sandbox-[0-9a-f]+$")]
    business_number_id: str
    text: str
    to_kind: RecipientKind
    """How the customer was addressed; the address itself is not recorded."""
    sent_at: datetime


class SandboxChannel:
    """Appends each message to `path` and fsyncs it before answering `Sent`."""

    def __init__(self, path: Path) -> None:
        private_file(path)
        self._path = path
        self._lock = threading.Lock()

    def send_text(self, business_number_id: str, to: Recipient, text: str) -> Sent:
        message = SandboxMessage(
            wa_message_id=f"wamid.sandbox-{secrets.token_hex(16)}",
            business_number_id=business_number_id,
            text=text,
            to_kind=_kind(to),
            sent_at=datetime.now(UTC),
        )
        line = (message.model_dump_json() + "\n").encode()
        with self._lock:
            # One write to an O_APPEND file: a line is never interleaved with another.
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(f"short write to the sandbox outbox {self._path}")
                os.fsync(fd)
            finally:
                os.close(fd)
        return Sent(wa_message_id=message.wa_message_id)


def read_outbox(path: Path) -> list[SandboxMessage]:
    """The messages in the outbox, oldest first; none if nothing was sent yet. A last
    line cut short by a crash mid-write was never answered `Sent`, and is skipped."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return [SandboxMessage.model_validate_json(line) for line in lines if line.endswith("\n")]


def _kind(to: Recipient) -> RecipientKind:
    return "phone" if to.phone is not None else "user_id"
