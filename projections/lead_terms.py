"""`lead_terms/{term}:{lead_id}`: what a search finds a lead's customer by in the values
collected for the lead (service interest, company, city, budget, deadline, pain
points), one document per search term (`contracts/search_terms.py`) and lead, with the
lead's `from_hash`. Those values are in the leads' snapshots already; no display name
is here (names are searched in the vault). A term's leads are one range of document
ids, so a search reads its matches, not the collection. `FORGET_CONTACT` removes the
lead's terms.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import LeadFieldCollected, LeadForgotten, LeadOpened
from contracts.ports.snapshots import Delete, Document, Put, Write
from contracts.search_terms import index_terms
from contracts.streams import StreamKind, stream_kind
from projections.projection import Recorded

LEAD_TERMS = "lead_terms"
MAX_TERMS = 200
"""Terms of one lead kept (a commit holds 500 writes: removing and adding them fit)."""


def term_id(term: str, lead_id: str) -> str:
    return f"{term}:{lead_id}"


class LeadTermsProjection:
    name = "lead_terms"
    collections = (LEAD_TERMS,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.LEAD

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        """The state: the lead's `from_hash`, its values by field, and its terms."""
        lead_id = events[0].envelope.stream_id.removeprefix("lead-")
        from_hash: str | None = state.get("from_hash")
        values: dict[str, str] = dict(state.get("values", {}))
        before = set(state.get("terms", []))
        for recorded in events:
            event = recorded.event
            if isinstance(event, LeadOpened):
                from_hash = event.from_hash
            elif isinstance(event, LeadFieldCollected):
                values[event.field.value] = event.value
            elif isinstance(event, LeadForgotten):
                values = {}
        every = set().union(*(index_terms(value) for value in values.values()))
        after = set(sorted(every)[:MAX_TERMS]) if from_hash else set()
        writes: list[Write] = [Delete(LEAD_TERMS, term_id(t, lead_id)) for t in before - after]
        writes += [
            Put(
                LEAD_TERMS,
                term_id(t, lead_id),
                {"term": t, "lead_id": lead_id, "from_hash": from_hash},
            )
            for t in sorted(after - before)
        ]
        return {"from_hash": from_hash, "values": values, "terms": sorted(after)}, writes
