"""The router service: the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.router.api import router
from services.router.breaker import CircuitBreaker
from services.router.handlers import AppealHandler, RouteHandler
from services.router.kpi_api import router as kpi_router
from services.router.models import SCHEMA, api_keys, processed_events
from services.router.policy import Policy, load_policy
from services.router.queue_metrics import run_queue_metrics, stop_task
from services.router.review import ReviewDesk
from services.router.settings import RouterSettings
from shared.apikeys import KeyStore
from shared.events import AppealLodged, ReportClassified
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app, freeze_startup_heap

MIGRATIONS = Path(__file__).with_name("migrations")


def review_topics(policy: Policy, topics: Topics) -> list[str]:
    """Every review topic the policy can publish on, so consumers can subscribe before use."""
    return sorted(topics.review(q) for q in policy.queues())


def load_policies(settings: RouterSettings) -> tuple[Policy, list[Policy]]:
    """The live policy and the shadow ones; a shadow with the live version is refused."""
    live = load_policy(settings.policy_path)
    shadows = [load_policy(p) for p in settings.shadow_policy_paths]
    versions = [live.version, *(s.version for s in shadows)]
    if len(set(versions)) != len(versions):
        raise ValueError(f"live and shadow policies need distinct versions: {versions}")
    return live, shadows


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    settings = settings or RouterSettings()
    policy, shadows = load_policies(settings)
    breaker = CircuitBreaker(policy.circuit_breaker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[
                topics.reports_classified,
                topics.reports_routed,
                topics.appeals,
                topics.decisions,
                topics.dlq(settings.service_name),
                *review_topics(policy, topics),
            ],
        )
        app.state.runtime = runtime
        app.state.keys = KeyStore(runtime.engine, api_keys, settings.api_key_cache_seconds)
        app.state.desk = ReviewDesk(
            runtime.engine,
            runtime.producer,
            policy,
            lease=timedelta(seconds=settings.lease_seconds),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            partitions=settings.topic_partitions,
        )
        metrics_task = asyncio.create_task(
            run_queue_metrics(
                runtime.engine,
                breaker,
                policy.queues(),
                settings.queue_metrics_interval_seconds,
                settings.default_handle_seconds,
            ),
            name="queue-metrics",
        )
        try:
            # Before the consumers start: batches are processed from the first fetch on.
            freeze_startup_heap()
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.reports_classified],
                    event_type=ReportClassified,
                    handler=RouteHandler(policy, breaker, shadows),
                    producer=runtime.producer,
                    engine=runtime.engine,
                    processed_table=processed_events,
                    # Both loops are members of one group: each needs its own name there.
                    name="route",
                )
            )
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.appeals],
                    event_type=AppealLodged,
                    handler=AppealHandler(policy),
                    producer=runtime.producer,
                    engine=runtime.engine,
                    processed_table=processed_events,
                    name="appeals",
                    background=True,
                )
            )
            yield
        finally:
            await stop_task(metrics_task)
            await runtime.stop()

    return build_app(
        settings,
        title="T&S router",
        description=(
            "Applies the routing policy: automated decisions, or cases on review queues worked "
            "by reviewers through the review API."
        ),
        lifespan=lifespan,
        routers=[router, kpi_router],
    )
