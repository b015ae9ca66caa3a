"""Every projection, and which logical collection each owns."""

from __future__ import annotations

from projections.audit import AuditProjection
from projections.commands import CommandsProjection
from projections.dead_letters import DeadLettersProjection
from projections.lead_terms import LeadTermsProjection
from projections.leads import LeadsProjection
from projections.messages import MessagesProjection
from projections.metrics import MetricsProjection
from projections.projection import Projection
from projections.sessions import SessionsProjection
from projections.system import SystemProjection

PROJECTIONS: tuple[Projection, ...] = (
    SessionsProjection(),
    MessagesProjection(),
    LeadsProjection(),
    LeadTermsProjection(),
    AuditProjection(),
    CommandsProjection(),
    SystemProjection(),
    DeadLettersProjection(),
    MetricsProjection(),
)

OWNERS: dict[str, str] = {
    collection: projection.name
    for projection in PROJECTIONS
    for collection in projection.collections
}
"""Logical collection → the projection that writes it (for the snapshot store)."""


class UnknownProjection(LookupError):
    pass


def by_name(names: list[str] | None = None) -> tuple[Projection, ...]:
    """The projections named (all when None); raises `UnknownProjection`."""
    if not names:
        return PROJECTIONS
    known = {projection.name: projection for projection in PROJECTIONS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownProjection(
            f"unknown projection(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return tuple(known[name] for name in names)
