"""Listing dead letters without taking them away.

A dead-letter subscription has no dead-letter policy of its own, so pulling from it
can never lose anything: a listing pulls what is there, holds it while it pulls more,
then nacks everything at once so the next listing (or an operator's tool) sees it
again. While a listing runs, a concurrent one does not see what the first one holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from google.api_core import exceptions
from google.cloud.pubsub_v1 import SubscriberClient
from google.pubsub_v1 import ReceivedMessage

from adapters.pubsub.codec import read_dead_letter
from adapters.pubsub.transient import RPC_TIMEOUT_S, retrying
from contracts.ports.bus import DeadLetter

log = structlog.get_logger(__name__)

PULL_WAIT_S = 2.0
"""How long a pull waits for messages. Pub/Sub answers as soon as some are there, so
this is only what a listing of an empty (or fully listed) queue costs."""

_ACK_IDS_PER_CALL = 1000


def list_dead_letters(
    subscriber: SubscriberClient, path: str, subscription: str, limit: int
) -> list[DeadLetter]:
    """Up to `limit` dead letters, oldest first. Pub/Sub keeps no order, so when there
    are more than `limit`, which ones are listed is not defined."""
    held: dict[str, ReceivedMessage] = {}
    ack_ids: list[str] = []
    try:
        while len(held) < limit:
            batch = _pull(subscriber, path, limit - len(held))
            ack_ids.extend(received.ack_id for received in batch)
            new = [r for r in batch if r.message.message_id not in held]
            if not new:
                break
            held.update((r.message.message_id, r) for r in new)
    finally:
        _release(subscriber, path, ack_ids)
    letters = [read_dead_letter(subscription, r.message) for r in held.values()]
    return sorted(letters, key=lambda letter: letter.dead_lettered_at)[:limit]


def _pull(subscriber: SubscriberClient, path: str, max_messages: int) -> Sequence[ReceivedMessage]:
    def once() -> Sequence[ReceivedMessage]:
        try:
            response = subscriber.pull(
                request={"subscription": path, "max_messages": max_messages},
                retry=None,
                timeout=PULL_WAIT_S,
            )
        except exceptions.DeadlineExceeded:
            return []  # nothing arrived while we waited
        return list(response.received_messages)

    return retrying("pull")(once)


def _release(subscriber: SubscriberClient, path: str, ack_ids: list[str]) -> None:
    """Nack what the listing held. If this fails, the messages come back anyway when
    their lease runs out; the listing itself is still right."""
    for start in range(0, len(ack_ids), _ACK_IDS_PER_CALL):
        try:
            retrying("modify_ack_deadline")(
                subscriber.modify_ack_deadline,
                request={
                    "subscription": path,
                    "ack_ids": ack_ids[start : start + _ACK_IDS_PER_CALL],
                    "ack_deadline_seconds": 0,
                },
                retry=None,
                timeout=RPC_TIMEOUT_S,
            )
        except exceptions.GoogleAPICallError as error:
            log.warning("dead_letters_release_failed", error=type(error).__name__)
