"""The enforcement service: the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.enforcement.api import router
from services.enforcement.handlers import handle_decisions
from services.enforcement.models import SCHEMA, processed_events
from services.enforcement.settings import EnforcementSettings
from shared.events import DecisionMade
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: EnforcementSettings | None = None) -> FastAPI:
    settings = settings or EnforcementSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[topics.decisions, topics.actions, topics.dlq(settings.service_name)],
        )
        app.state.runtime = runtime
        try:
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.decisions],
                    event_type=DecisionMade,
                    handler=handle_decisions,
                    producer=runtime.producer,
                    engine=runtime.engine,
                    processed_table=processed_events,
                )
            )
            yield
        finally:
            await runtime.stop()

    return build_app(
        settings,
        title="T&S enforcement",
        description="Records decisions and actions with a verifiable audit trail.",
        lifespan=lifespan,
        routers=[router],
    )
