"""The event store against a model: random appends, stale versions, redelivered
inputs and two-stream transactions, on every back end. After every step each stream
must hold exactly what the model says, in order, without gaps."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from contracts.ports.eventstore import ConcurrencyError, EventStore, StreamTransaction
from tests.contract.test_eventstore import new_event

STREAM_NAMES = ("a", "b", "c")
VERSION_SKEW = st.sampled_from([0, 0, 0, -1, 1, 2])


def run_model(store: EventStore, max_examples: int) -> None:
    class StoreMatchesModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            prefix = uuid.uuid4().hex[:8]  # each example gets streams of its own
            self.streams = {name: f"session-{prefix}{name}" for name in STREAM_NAMES}
            self.model: dict[str, list[str]] = {s: [] for s in self.streams.values()}
            self.batches: list[tuple[str, list[str]]] = []

        def batch(self, size: int) -> list[str]:
            return [str(uuid.uuid4()) for _ in range(size)]

        @rule(name=st.sampled_from(STREAM_NAMES), size=st.integers(1, 3), skew=VERSION_SKEW)
        def append(self, name: str, size: int, skew: int) -> None:
            stream = self.streams[name]
            ids = self.batch(size)
            expected = len(self.model[stream]) + skew
            if expected < 0:
                return
            events = [new_event(event_id=i) for i in ids]
            if skew:
                with pytest.raises(ConcurrencyError):
                    store.append(stream, events, expected_version=expected)
                return
            appended = store.append(stream, events, expected_version=expected)
            assert [e.event_id for e in appended.events] == ids
            assert not appended.duplicate
            self.model[stream].extend(ids)
            self.batches.append((stream, ids))

        @rule(data=st.data())
        def redeliver(self, data: st.DataObject) -> None:
            if not self.batches:
                return
            stream, ids = data.draw(st.sampled_from(self.batches))
            expected = data.draw(st.integers(0, len(self.model[stream])))
            again = store.append(stream, [new_event(event_id=i) for i in ids], expected)
            assert again.duplicate
            assert [e.event_id for e in again.events] == ids

        @rule(
            first=st.sampled_from(STREAM_NAMES),
            second=st.sampled_from(STREAM_NAMES),
            skew=VERSION_SKEW,
        )
        def transact(self, first: str, second: str, skew: int) -> None:
            if first == second:
                return
            one, two = self.streams[first], self.streams[second]
            ids_one, ids_two = self.batch(1), self.batch(2)

            def both(tx: StreamTransaction) -> None:
                tx.append(one, [new_event(event_id=i) for i in ids_one], len(tx.read(one)))
                expected = len(tx.read(two)) + skew
                tx.append(two, [new_event(event_id=i) for i in ids_two], max(expected, 0))

            if skew and len(self.model[two]) + skew >= 0:
                with pytest.raises(ConcurrencyError):
                    store.transact(both)
                return
            if skew:
                return
            store.transact(both)
            self.model[one].extend(ids_one)
            self.model[two].extend(ids_two)
            self.batches += [(one, ids_one), (two, ids_two)]

        @invariant()
        def streams_match_the_model(self) -> None:
            for stream, ids in self.model.items():
                recorded = store.read(stream)
                assert [e.event_id for e in recorded] == ids
                assert [e.version for e in recorded] == list(range(1, len(ids) + 1))
                assert store.version(stream) == len(ids)

    run_state_machine_as_test(
        StoreMatchesModel,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_the_store_behaves_like_its_model(store: EventStore, backend: object) -> None:
    run_model(store, max_examples=60 if getattr(backend, "kind", "") == "sqlite" else 12)
