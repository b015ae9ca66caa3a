"""The shared language of Switchboard: envelope, events, commands, snapshots, ports.

Importing the package registers the whole event catalogue and its upcasters, so a
process that only reads from a store still upcasts old events."""

import contracts.events  # noqa: F401
