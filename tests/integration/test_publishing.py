"""The producer's two strategies on the real broker: a keyed event lands on the partition a
plain ``AIOKafkaProducer.send`` puts its key on, whether batched per partition or sent one
record at a time, and only what the broker acknowledged is counted as produced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import REGISTRY

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from shared.config import ServiceSettings
from shared.events import DecisionMade
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics, ensure_topics
from tests.factories import make_decision
from tests.harness import TopicWatcher, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

PARTITIONS = 6


@dataclass(frozen=True)
class _Record:
    topic: str
    key: bytes
    value: bytes


def _settings(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> ServiceSettings:
    return ServiceSettings(**{**service_env(kafka, postgres, namespace), "service_name": "pub"})


def _produced(topic: str) -> float:
    value = REGISTRY.get_sample_value(
        "tns_messages_produced_total", {"service": "pub", "topic": topic}
    )
    return value or 0.0


async def _partitions_of_plain_send(bootstrap: str, topic: str, keys: list[bytes]) -> list[int]:
    """Where the client, left to its defaults, puts each key."""
    client = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await client.start()
    try:
        futures = [await client.send(topic, b"reference", key=k) for k in keys]
        return [metadata.partition for metadata in await asyncio.gather(*futures)]
    finally:
        await client.stop()


async def test_keyed_events_land_where_a_plain_send_puts_them_in_either_strategy(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    topics = Topics(namespace)
    reference, records = f"{namespace}reference", f"{namespace}records"
    await ensure_topics(kafka.bootstrap_servers, [topics.decisions, reference, records], PARTITIONS)
    events = [make_decision() for _ in range(60)]
    keys = [e.key() for e in events]
    plain = await _partitions_of_plain_send(kafka.bootstrap_servers, reference, keys)
    expected = dict(zip(keys, plain, strict=True))
    assert len(set(expected.values())) > 1  # the keys spread: a wrong choice would show

    producer = EventProducer(_settings(kafka, postgres, namespace))
    await producer.start()
    try:
        async with (
            TopicWatcher(kafka.bootstrap_servers, topics.decisions) as batched,
            TopicWatcher(kafka.bootstrap_servers, records) as one_by_one,
        ):
            await producer.publish(events)
            await producer.publish_records(
                [_Record(records, e.key(), e.to_bytes()) for e in events]
            )
            await batched.wait_for(len(events))
            await one_by_one.wait_for(len(events))
    finally:
        await producer.stop()

    for watched in (batched, one_by_one):
        assert len(watched.records) == len(events)
        landed = {r.key: r.partition for r in watched.records}
        assert landed == expected
    # Each event as it was published, under its own key.
    by_id = {DecisionMade.from_bytes(r.value).event_id: r.key for r in batched.records}
    assert by_id == {e.event_id: e.key() for e in events}


async def test_only_acknowledged_records_are_counted_as_produced(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    topic = f"{namespace}counted"
    await ensure_topics(kafka.bootstrap_servers, [topic], PARTITIONS)
    producer = EventProducer(_settings(kafka, postgres, namespace))
    await producer.start()
    try:
        before = _produced(topic)
        await producer.publish_records([_Record(topic, b"k1", b"a"), _Record(topic, b"k2", b"b")])
        assert _produced(topic) == before + 2
        # Over the 1 MiB of one request: refused, and nothing more is counted.
        too_big = _Record(topic, b"k3", b"x" * (producer.max_request_size + 1))
        with pytest.raises(MessageSizeTooLargeError):
            await producer.publish_records([too_big])
        assert _produced(topic) == before + 2
        # Batched per partition: the events' own topic, counted once acknowledged.
        decision = make_decision()
        decisions = producer.topics.for_event(decision)
        await ensure_topics(kafka.bootstrap_servers, [decisions], PARTITIONS)
        before_events = _produced(decisions)
        await producer.publish([decision, make_decision()])
        assert _produced(decisions) == before_events + 2
    finally:
        await producer.stop()
