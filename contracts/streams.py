"""Stream names. A stream id is `<kind>-<id>` (or just `system`); the charset is
restricted so that back ends can build keys such as `<stream>:<version>` safely."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

STREAM_ID_PATTERN = re.compile(r"^[a-z]+(-[A-Za-z0-9_.~+=-]{1,160})?$")
SYSTEM_STREAM = "system"


class StreamKind(StrEnum):
    SESSION = "session"
    LEAD = "lead"
    COMMAND = "command"
    CONTACT = "contact"
    SYSTEM = "system"
    INBOX = "inbox"
    """An input on the bus (a webhook's message or status), never recorded in the store."""
    DEADLETTER = "deadletter"
    WAMESSAGE = "wamessage"
    """A WhatsApp message id's ref, linked to the outbound it names."""


class InvalidStreamId(ValueError):
    """A stream id outside `STREAM_ID_PATTERN`."""


def check_stream_id(stream_id: str) -> str:
    if not STREAM_ID_PATTERN.fullmatch(stream_id):
        raise InvalidStreamId(
            f"invalid stream id {stream_id!r}: expected '<kind>-<id>' with letters, digits "
            "and _.~+=- in the id (at most 160 characters)"
        )
    return stream_id


def stream_kind(stream_id: str) -> str:
    """The part before the first dash: `session`, `lead`, `command`, `system`..."""
    return stream_id.split("-", 1)[0]


def session_stream(session_id: str) -> str:
    return check_stream_id(f"{StreamKind.SESSION}-{session_id}")


def lead_stream(lead_id: str) -> str:
    return check_stream_id(f"{StreamKind.LEAD}-{lead_id}")


def command_stream(command_id: str) -> str:
    return check_stream_id(f"{StreamKind.COMMAND}-{command_id}")


def contact_stream(from_hash: str) -> str:
    return check_stream_id(f"{StreamKind.CONTACT}-{from_hash}")


def wamessage_stream(wa_message_ref: str) -> str:
    return check_stream_id(f"{StreamKind.WAMESSAGE}-{wa_message_ref}")


def inbox_stream(input_key: str) -> str:
    """The stream id an input envelope carries on the bus: `inbox-` and 40 hex of the
    input key's SHA-256, so any WhatsApp id fits the charset."""
    digest = hashlib.sha256(input_key.encode()).hexdigest()[:40]
    return check_stream_id(f"{StreamKind.INBOX}-{digest}")


def deadletter_stream(body_sha256: str) -> str:
    return check_stream_id(f"{StreamKind.DEADLETTER}-{body_sha256[:40]}")
