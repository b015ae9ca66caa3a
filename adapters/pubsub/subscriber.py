"""A subscriber client whose streaming pulls end after `STREAM_LIFETIME_S`.

The bound matters where a server keeps serving a stream whose client is gone: the
Pub/Sub emulator (0.8.20) never notices a cancelled stream or a killed process and goes
on handing that stream messages, each lost for one ack deadline, until the stream's
deadline, which is 30 minutes by default. See docs/pubsub.md, "The emulator".

The client reopens a stream that ended with `DeadlineExceeded` by itself, keeping the
leases of what it holds. What the stream delivered while the consumer was over its
flow-control limit, and so not reading, is lost with it: each such message comes back
once the stream's ack deadline (`ack_deadline_s`) has passed, with a delivery attempt
that no handler saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from google.api_core import gapic_v1
from google.cloud.pubsub_v1 import SubscriberClient

STREAM_LIFETIME_S = 20.0


class BoundedStreamSubscriber(SubscriberClient):  # type: ignore[misc]  # untyped client
    def streaming_pull(
        self,
        requests: Iterator[Any] | None = None,
        *,
        retry: Any = gapic_v1.method.DEFAULT,
        timeout: Any = gapic_v1.method.DEFAULT,
        metadata: Sequence[tuple[str, str | bytes]] = (),
    ) -> Iterable[Any]:
        if timeout is gapic_v1.method.DEFAULT:
            timeout = STREAM_LIFETIME_S
        stream: Iterable[Any] = super().streaming_pull(
            requests, retry=retry, timeout=timeout, metadata=metadata
        )
        return stream
