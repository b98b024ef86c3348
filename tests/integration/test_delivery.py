"""The shared consumer loop on the real broker: a batch retried after a partial send failure
republishes only the events the broker did not take the first time."""

from __future__ import annotations

import asyncio

import pytest

from shared.config import ServiceSettings
from shared.embedded import EmbeddedKafka, EmbeddedPostgres
from shared.events import DecisionMade, Event, ReportReceived
from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics
from tests.factories import make_decision, make_received
from tests.harness import TopicWatcher, produce_raw, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_retried_batch_does_not_republish_what_the_broker_acknowledged(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    topics = Topics(namespace)
    settings = ServiceSettings(
        **{
            **service_env(kafka, postgres, namespace),
            "service_name": "delivery-test",
            "handler_backoff_initial_s": 0.05,
        }
    )
    first, second = make_decision(), make_decision()
    # Over the producer's 1 MiB request limit: its send fails after ``first`` went out.
    big = make_decision()
    too_big = big.model_copy(
        update={"payload": big.payload.model_copy(update={"reason": "x" * 2_000_000})}
    )
    calls = 0

    async def handler(events: list[ReportReceived], ctx: HandlerContext) -> list[Event]:
        nonlocal calls
        calls += 1
        # The first attempt fails part-way; the retry computes the batch's events again.
        return [first, too_big, second] if calls == 1 else [first, second]

    producer = EventProducer(settings)
    await producer.start()
    loop: ConsumerLoop[ReportReceived] = ConsumerLoop(
        settings=settings,
        topics=[topics.reports_received],
        event_type=ReportReceived,
        handler=handler,
        producer=producer,
    )
    try:
        async with TopicWatcher(kafka.bootstrap_servers, topics.decisions) as out:
            await loop.start()
            report = make_received()
            await produce_raw(
                kafka.bootstrap_servers,
                topics.reports_received,
                [(report.key(), report.to_bytes())],
            )
            await out.wait_for(2)
            await asyncio.sleep(1.0)  # time for a duplicate to show up, were there one
    finally:
        await loop.stop()
        await producer.stop()
    assert calls == 2
    published = [DecisionMade.from_bytes(r.value).event_id for r in out.records]
    assert sorted(published) == sorted([first.event_id, second.event_id])
