"""The router service: the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.router.handlers import RouteHandler
from services.router.models import SCHEMA, processed_events
from services.router.policy import Policy, load_policy
from services.router.settings import RouterSettings
from shared.events import ReportClassified
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app
from shared.taxonomy import PolicyArea

MIGRATIONS = Path(__file__).with_name("migrations")


def review_topics(policy: Policy, topics: Topics) -> list[str]:
    """Every review topic the policy can publish on, so consumers can subscribe before use."""
    queues = {policy.rule_for(area).queue for area in PolicyArea}
    return sorted(topics.review(q) for q in queues if q)


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    settings = settings or RouterSettings()
    policy = load_policy(settings.policy_path)
    handler = RouteHandler(policy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[
                topics.reports_classified,
                topics.decisions,
                topics.dlq(settings.service_name),
                *review_topics(policy, topics),
            ],
        )
        app.state.runtime = runtime
        try:
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.reports_classified],
                    event_type=ReportClassified,
                    handler=handler,
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
        title="T&S router",
        description="Applies the routing policy: automated decisions or human review tasks.",
        lifespan=lifespan,
    )
