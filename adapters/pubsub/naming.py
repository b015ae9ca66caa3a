"""Resource names: how a topic or subscription of ours becomes a Pub/Sub path, and
where each subscription keeps its dead letters.

Names are checked here, before any call, so that a bad name fails with a message that
says what is wrong instead of a bare `InvalidArgument` from the service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEAD_LETTER_SUFFIX = "-dead-letter"

# Pub/Sub's rule for topic and subscription ids.
_VALID_ID = re.compile(r"(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")


class InvalidName(ValueError):
    """A topic or subscription name Pub/Sub would refuse."""


def check_name(name: str) -> str:
    if not _VALID_ID.fullmatch(name):
        raise InvalidName(
            f"{name!r} is not a valid Pub/Sub name: use 3 to 255 letters, digits or "
            "-_.~+%, starting with a letter and not with 'goog'"
        )
    return name


@dataclass(frozen=True)
class ResourceNames:
    """Paths of the resources of one project."""

    project: str

    def topic(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{check_name(topic)}"

    def subscription(self, subscription: str) -> str:
        return f"projects/{self.project}/subscriptions/{check_name(subscription)}"

    def dead_letter_topic(self, subscription: str) -> str:
        """Each subscription has its own dead-letter topic, so that dead letters say
        which consumer gave up on them."""
        return self.topic(check_name(subscription) + DEAD_LETTER_SUFFIX)

    def dead_letter_subscription(self, subscription: str) -> str:
        """The subscription that retains the dead letters of `subscription` for
        operators; a topic without a subscription would drop them."""
        return self.subscription(check_name(subscription) + DEAD_LETTER_SUFFIX)
