"""The enforcement service: the composition root."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.enforcement import audit, ledger
from services.enforcement.api import router
from services.enforcement.handlers import Enforcer
from services.enforcement.kpi_api import router as kpi_router
from services.enforcement.ladder import load_policy
from services.enforcement.models import SCHEMA, api_keys, processed_events
from services.enforcement.settings import EnforcementSettings
from services.enforcement.submitter import Submitter
from shared.apikeys import KeyStore
from shared.events import ActionConfirmed, DecisionMade, utcnow
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app, freeze_startup_heap

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: EnforcementSettings | None = None) -> FastAPI:
    settings = settings or EnforcementSettings()
    # A bad policy file stops the service before it takes traffic.
    policy = load_policy(settings.policy_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[
                topics.decisions,
                topics.actions,
                topics.action_confirmations,
                topics.notifications,
                topics.appeals,
                topics.dlq(settings.service_name),
            ],
        )
        app.state.runtime = runtime
        app.state.keys = KeyStore(runtime.engine, api_keys, settings.api_key_cache_seconds)
        app.state.policy = policy
        enforcer = Enforcer(settings, policy)
        stopping = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        submitter: Submitter | None = None
        try:
            # Before the consumers start: batches are processed from the first fetch on.
            freeze_startup_heap()
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.decisions],
                    event_type=DecisionMade,
                    handler=enforcer.handle_decisions,
                    producer=runtime.producer,
                    engine=runtime.engine,
                    processed_table=processed_events,
                )
            )
            # Its own group: a confirmation never waits for a rebalance of the decisions.
            confirmations = settings.model_copy(
                update={"consumer_group": f"{settings.group_id}-confirmations"}
            )
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=confirmations,
                    topics=[topics.action_confirmations],
                    event_type=ActionConfirmed,
                    handler=enforcer.handle_confirmations,
                    producer=runtime.producer,
                    engine=runtime.engine,
                    processed_table=processed_events,
                    background=True,
                )
            )

            async def sweep() -> None:
                await ledger.sweep(runtime.engine, runtime.producer, settings)

            async def checkpoint() -> None:
                async with runtime.engine.begin() as conn:
                    await audit.checkpoint(conn, utcnow())
                if settings.checkpoint_export is not None:
                    await audit.export_new(runtime.engine, *settings.checkpoint_export)

            jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
                ("ledger-sweep", settings.ledger_sweep_interval_s, sweep),
                ("audit-checkpoint", settings.audit_checkpoint_interval_s, checkpoint),
            ]
            if settings.sor_submitter_enabled:
                submitter = Submitter(runtime.engine, settings)
                jobs.append(("sor-submitter", settings.sor_poll_interval_s, submitter.run_once))
            tasks = [
                asyncio.create_task(ledger.periodic(name, every, job, stopping), name=name)
                for name, every, job in jobs
            ]
            yield
        finally:
            stopping.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=30)
            if submitter is not None:
                await submitter.close()
            await runtime.stop()

    return build_app(
        settings,
        title="T&S enforcement",
        description=(
            "Turns decisions into graduated actions with a ledger, statements of reasons, "
            "notices and appeals, and keeps a verifiable audit trail."
        ),
        lifespan=lifespan,
        routers=[router, kpi_router],
    )
