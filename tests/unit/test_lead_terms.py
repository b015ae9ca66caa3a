"""The search terms of a lead's collected values (`projections/lead_terms.py`), folded
without a store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import Event
from contracts.events import LeadFieldCollected, LeadForgotten, LeadOpened
from contracts.ports.snapshots import Delete, Put
from contracts.vocabulary import FieldSource, LeadField
from projections.lead_terms import LEAD_TERMS, LeadTermsProjection
from projections.projection import parsed
from tests.unit.event_examples import FROM_HASH, record


def collected(field: LeadField, value: str) -> Event:
    user = {"source": FieldSource.USER, "inferred": False, "confidence": 1.0}
    return LeadFieldCollected(field=field, value=value, evidence_message_ref="ab" * 32, **user)


def terms_after(batches: Sequence[Sequence[Event]]) -> dict[str, dict[str, Any]]:
    """The documents the writes leave, folding `batches` one after the other."""
    projection, state = LeadTermsProjection(), dict[str, Any]()
    documents: dict[str, dict[str, Any]] = {}
    version = 0
    for batch in batches:
        envelopes = [record(e, stream_id="lead-l1", version=version + n)
                     for n, e in enumerate(batch, start=1)]  # fmt: skip
        version += len(batch)
        state, writes = projection.fold(state, parsed(envelopes))
        for write in writes:
            assert write.collection == LEAD_TERMS
            if isinstance(write, Delete):
                assert write.doc_id in documents, "a delete names a document written before"
                del documents[write.doc_id]
            else:
                assert isinstance(write, Put)
                documents[write.doc_id] = write.data
    return documents


OPENED = LeadOpened(from_hash=FROM_HASH, session_id="s1")


def test_each_word_and_start_of_a_collected_value_finds_the_lead() -> None:
    docs = terms_after([[OPENED, collected(LeadField.CITY, "São Paulo"),
                         collected(LeadField.SERVICE_INTEREST, "CUSTOM_SOFTWARE")]])  # fmt: skip

    terms = {doc["term"] for doc in docs.values()}
    assert {"sao", "paulo", "pau", "paul", "custom", "software", "soft"} <= terms
    assert "pa" not in terms
    assert all(doc == {"term": doc["term"], "lead_id": "l1", "from_hash": FROM_HASH}
               for doc in docs.values())  # fmt: skip
    assert set(docs) == {f"{doc['term']}:l1" for doc in docs.values()}


def test_a_new_value_replaces_the_old_terms_and_a_forget_removes_them_all() -> None:
    first = [OPENED, collected(LeadField.CITY, "Campinas")]
    changed = terms_after([first, [collected(LeadField.CITY, "Recife")]])
    at_once = terms_after([[*first, collected(LeadField.CITY, "Recife")]])
    forgotten = terms_after([first, [LeadForgotten(by="admin", reason="pedido do titular")]])

    assert {doc["term"] for doc in changed.values()} == {"recife", "rec", "reci", "recif"}
    assert changed == at_once
    assert forgotten == {}
