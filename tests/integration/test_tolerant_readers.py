"""An event carrying a field its consumer does not know yet (a later producer added an optional
one) is consumed like any other, at every service, and not dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.classifier.app import create_app as classifier_app
from services.classifier.settings import ClassifierSettings
from services.enforcement.app import create_app as enforcement_app
from services.enforcement.settings import EnforcementSettings
from services.intake.app import create_app as intake_app
from services.intake.models import report_progress
from services.intake.settings import IntakeSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from shared.events import Event
from shared.kafka.topics import Topics
from tests.factories import (
    FUTURE_FIELD,
    as_newer_producer_writes_it,
    make_classified,
    make_decision,
    make_received,
)
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SENTINEL = b"{not json"

# Service: its app, an event it consumes, the topic it reads, and the topic it writes its
# effect to (empty: intake, whose effect is the report's status in its database).
CASES: dict[str, tuple[Callable[[dict[str, Any]], FastAPI], Callable[[], Event], str, str]] = {
    "classifier": (
        lambda env: classifier_app(ClassifierSettings(**env)),
        lambda: make_received(text="you stupid idiot"),
        "reports_received",
        "reports_classified",
    ),
    "router": (
        lambda env: router_app(RouterSettings(**env)),
        lambda: make_classified(),
        "reports_classified",
        "reports_routed",
    ),
    "enforcement": (
        lambda env: enforcement_app(EnforcementSettings(**env)),
        lambda: make_decision(),
        "decisions",
        "actions",
    ),
    "intake": (
        lambda env: intake_app(IntakeSettings(**env)),
        lambda: make_classified(),
        "reports_classified",
        "",
    ),
}


@pytest.mark.parametrize("service", list(CASES))
async def test_event_with_an_unknown_optional_field_is_consumed_not_dead_lettered(
    service: str,
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    db: AsyncEngine,
    namespace: str,
) -> None:
    make_app, make_event, in_attr, out_attr = CASES[service]
    topics = Topics(namespace)
    in_topic = getattr(topics, in_attr)
    event = make_event()
    newer = as_newer_producer_writes_it(event)
    assert FUTURE_FIELD.encode() in newer
    correlation = str(event.correlation_id).encode()

    async def progress() -> str | None:
        async with db.connect() as conn:
            status: str | None = await conn.scalar(
                select(report_progress.c.status).where(
                    report_progress.c.report_id == event.correlation_id
                )
            )
        return status

    async with (
        running(make_app(service_env(kafka, postgres, namespace))),
        TopicWatcher(kafka.bootstrap_servers, topics.dlq(service)) as dlq,
    ):
        # The malformed message after it, on the same partition, reaches the dead-letter topic
        # only once the newer event has been dealt with.
        records = [(event.key(), newer), (event.key(), SENTINEL)]
        if out_attr:
            async with TopicWatcher(kafka.bootstrap_servers, getattr(topics, out_attr)) as out:
                await produce_raw(kafka.bootstrap_servers, in_topic, records)

                async def handled() -> bool:
                    return any(correlation in (r.value or b"") for r in out.records)

                await eventually(handled)
        else:
            await produce_raw(kafka.bootstrap_servers, in_topic, records)
            assert await eventually(progress) == "classified"
        dead = await dlq.wait_for(1)
    assert [r.value for r in dead] == [SENTINEL]
