"""The consumer loop's group membership on the real broker: a loop starts (and its service
answers ``/readyz``) before its group has given it partitions, and a static member
(``TNS_KAFKA_GROUP_INSTANCE_ID``) that stops hands its partitions over at once rather than
after its session expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import pytest

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.router.app import create_app
from services.router.settings import RouterSettings
from shared.config import ServiceSettings
from shared.events import Event, ReportReceived
from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics, ensure_topics
from tests.factories import make_received
from tests.harness import eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _settings(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, **extra: object
) -> ServiceSettings:
    return ServiceSettings(
        **{**service_env(kafka, postgres, namespace), "service_name": "membership-test", **extra}
    )


class _Seen:
    """A handler that remembers the report ids it was given."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, events: list[ReportReceived], ctx: HandlerContext) -> Sequence[Event]:
        self.ids += [str(e.payload.report_id) for e in events]
        return []


def _now(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check()

    return probe


def _loop(
    settings: ServiceSettings, producer: EventProducer, seen: _Seen, name: str
) -> ConsumerLoop[ReportReceived]:
    return ConsumerLoop[ReportReceived](
        settings=settings,
        topics=[Topics(settings.topic_namespace).reports_received],
        event_type=ReportReceived,
        handler=seen,
        producer=producer,
        name=name,
    )


async def test_a_loop_starts_before_its_group_assigns_it_partitions_and_then_consumes(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    settings = _settings(kafka, postgres, namespace)
    topic = Topics(namespace).reports_received
    await ensure_topics(kafka.bootstrap_servers, [topic], 3)
    report = make_received()
    await produce_raw(kafka.bootstrap_servers, topic, [(report.key(), report.to_bytes())])
    producer = EventProducer(settings)
    await producer.start()
    seen = _Seen()
    loop = _loop(settings, producer, seen, "seen")
    try:
        started = time.monotonic()
        await loop.start()
        # The broker holds a join for seconds; start returned without waiting for it.
        assert time.monotonic() - started < 1.5
        assert loop.assigned == 0
        await eventually(_now(lambda: seen.ids == [str(report.payload.report_id)]), timeout=30)
        assert loop.assigned == 3
    finally:
        await loop.stop()
        await producer.stop()


async def test_a_stopped_static_member_hands_its_partitions_over_before_its_session_expires(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    session_s = 45
    settings = {
        name: _settings(
            kafka,
            postgres,
            namespace,
            kafka_group_instance_id=f"pod-{name}",
            consumer_session_timeout_ms=session_s * 1000,
        )
        for name in ("a", "b")
    }
    topic = Topics(namespace).reports_received
    await ensure_topics(kafka.bootstrap_servers, [topic], 3)
    producer = EventProducer(settings["a"])
    await producer.start()
    seen = {name: _Seen() for name in settings}
    a = _loop(settings["a"], producer, seen["a"], "seen")
    b = _loop(settings["b"], producer, seen["b"], "seen")
    try:
        await a.start()
        await eventually(_now(lambda: a.assigned == 3), timeout=30)
        await b.start()
        await eventually(_now(lambda: a.assigned + b.assigned == 3 and b.assigned > 0), timeout=30)
        await b.stop()
        stopped = time.monotonic()
        await eventually(_now(lambda: a.assigned == 3), timeout=session_s - 5)
        assert time.monotonic() - stopped < session_s - 5
        # And what is sent now reaches the member that stayed.
        report = make_received()
        await produce_raw(kafka.bootstrap_servers, topic, [(report.key(), report.to_bytes())])
        await eventually(_now(lambda: str(report.payload.report_id) in seen["a"].ids), timeout=30)
    finally:
        await asyncio.gather(a.stop(), b.stop())
        await producer.stop()


async def test_a_service_is_ready_before_its_loops_hold_partitions_and_shows_them(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    # The router's two loops are members of one group: as static members they need names of
    # their own, or each would take the other's place.
    settings = RouterSettings(
        **service_env(kafka, postgres, namespace), kafka_group_instance_id="pod-r"
    )
    group = settings.group_id
    async with running(create_app(settings)) as api:
        first = await api.get("/readyz")
        assert first.status_code == 200, first.text
        assert first.json()["partitions"] == {f"{group}/route": 0, f"{group}/appeals": 0}

        async def both_assigned() -> bool:
            body = (await api.get("/readyz")).json()
            return body["partitions"] == {f"{group}/route": 3, f"{group}/appeals": 3}

        await eventually(both_assigned, timeout=40)
