"""The intake service: the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.intake.api import router
from services.intake.models import SCHEMA, api_keys
from services.intake.settings import IntakeSettings
from services.intake.writer import ReportWriter
from shared.apikeys import KeyStore
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings, migrations_dir=MIGRATIONS, schema=SCHEMA, topics=[topics.reports_received]
        )
        writer = ReportWriter(
            runtime.engine,
            runtime.producer,
            batch_max=settings.write_batch_max,
            linger_ms=settings.write_linger_ms,
        )
        writer.start()
        app.state.keys = KeyStore(runtime.engine, api_keys, settings.api_key_cache_seconds)
        app.state.writer = writer
        app.state.runtime = runtime
        try:
            yield
        finally:
            await writer.stop()
            await runtime.stop()

    return build_app(
        settings,
        title="T&S intake",
        description="Accepts user reports (DSA Art. 16 notices) from product clients.",
        lifespan=lifespan,
        routers=[router],
        max_body_bytes=settings.max_body_bytes,
    )
