"""The shared consumer loop on the real broker: a batch retried after a partial send failure, or
after its handler failed having sent events early, republishes only what the broker did not take
the first time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from shared.config import ServiceSettings
from shared.errors import RetryableError
from shared.events import DecisionMade, Event, ReportReceived
from shared.kafka.consumer import BatchHandler, ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics
from tests.factories import make_decision, make_received
from tests.harness import TopicWatcher, produce_raw, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _settings(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> ServiceSettings:
    return ServiceSettings(
        **{
            **service_env(kafka, postgres, namespace),
            "service_name": "delivery-test",
            "handler_backoff_initial_s": 0.05,
        }
    )


async def _run(
    settings: ServiceSettings, handler: BatchHandler[ReportReceived], watch: str
) -> list[uuid.UUID]:
    """Feed one report to a loop running ``handler``; the event ids that reached ``watch``."""
    topics = Topics(settings.topic_namespace)
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
        async with TopicWatcher(settings.kafka_bootstrap_servers, watch) as out:
            await loop.start()
            report = make_received()
            await produce_raw(
                settings.kafka_bootstrap_servers,
                topics.reports_received,
                [(report.key(), report.to_bytes())],
            )
            await out.wait_for(2)
            await asyncio.sleep(1.0)  # time for a duplicate to show up, were there one
    finally:
        await loop.stop()
        await producer.stop()
    return [DecisionMade.from_bytes(r.value).event_id for r in out.records]


async def test_retried_batch_does_not_republish_what_the_broker_acknowledged(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    settings = _settings(kafka, postgres, namespace)
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

    published = await _run(settings, handler, Topics(namespace).decisions)
    assert calls == 2
    assert sorted(published) == sorted([first.event_id, second.event_id])


async def test_events_sent_early_by_a_failed_handler_are_not_sent_again(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    settings = _settings(kafka, postgres, namespace)
    early, late = make_decision(), make_decision()
    calls = 0

    async def handler(events: list[ReportReceived], ctx: HandlerContext) -> list[Event]:
        nonlocal calls
        calls += 1
        assert ctx.publication is not None
        await ctx.publication.send([early])  # on its way before the handler's own work
        if calls == 1:
            raise RetryableError("the writes failed after the events went out")
        return [late]

    published = await _run(settings, handler, Topics(namespace).decisions)
    assert calls == 2
    assert sorted(published) == sorted([early.event_id, late.event_id])
