"""The intake service: the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.intake.api import create_report, router
from services.intake.fastpath import SubmitRoute
from services.intake.handlers import ProgressEvent, ProgressHandler, thresholds_from
from services.intake.ingest import Ingestor
from services.intake.kpi_api import router as kpi_router
from services.intake.mappings import load_mappings
from services.intake.models import SCHEMA, api_keys, processed_events
from services.intake.ratelimit import RateLimiter
from services.intake.registry import Registry
from services.intake.schemas import base64_length
from services.intake.settings import IntakeSettings
from services.intake.writer import ReportWriter
from shared.apikeys import KeyStore
from shared.http import NO_NUL_PATTERN
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app, freeze_startup_heap

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    # Read before anything starts: a bad mapping file stops the service with the file's name.
    codes = load_mappings(settings.mappings_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        downstream = [topics.reports_classified, topics.reports_routed, topics.decisions]
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[topics.reports_received, *downstream, topics.dlq(settings.service_name)],
        )
        registry = Registry(runtime.engine, settings.registry_refresh_seconds)
        await registry.start()
        writer = ReportWriter(
            runtime.engine,
            runtime.producer,
            batch_max=settings.write_batch_max,
            linger_ms=settings.write_linger_ms,
            in_flight=settings.write_in_flight,
        )
        writer.start()
        app.state.keys = KeyStore(runtime.engine, api_keys, settings.api_key_cache_seconds)
        app.state.writer = writer
        app.state.runtime = runtime
        app.state.registry = registry
        app.state.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        app.state.ingestor = Ingestor(
            codes,
            registry,
            media_inline_max_bytes=settings.media_inline_max_bytes,
            warning_window=timedelta(days=settings.misuse_window_days),
            topic=topics.reports_received,
        )
        thresholds = thresholds_from(
            settings.misuse_window_days,
            settings.misuse_min_unfounded,
            settings.misuse_unfounded_share,
            settings.misuse_hold_hours,
        )
        # Every downstream event type through one loop: the envelope is parsed here and the
        # payload by the handler, which dead-letters what it cannot read.
        # Before the consumers start: batches are processed from the first fetch on.
        freeze_startup_heap()
        await runtime.add_consumer(
            ConsumerLoop[ProgressEvent](
                settings=settings,
                topics=downstream,
                event_type=ProgressEvent,
                handler=ProgressHandler(registry, thresholds, settings.service_name),
                producer=runtime.producer,
                engine=runtime.engine,
                processed_table=processed_events,
                name="report_progress",
                background=True,
            )
        )
        try:
            yield
        finally:
            await writer.stop()
            await registry.stop()
            await runtime.stop()

    app = build_app(
        settings,
        title="T&S intake",
        description="Accepts notices (user reports, DSA Art. 16) from product clients, tells them "
        "where each report is, and handles trusted flaggers (Art. 22) and misuse (Art. 23).",
        lifespan=lifespan,
        routers=[router, kpi_router],
        max_body_bytes=settings.max_body_bytes,
    )
    submit = next(
        r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is create_report
    )
    app.router.routes.insert(0, SubmitRoute(submit))
    _document_limits(app, settings)
    return app


# Any JSON value whose strings (keys included) hold no NUL: what a batch item may be.
_STORABLE_JSON = {
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": "array", "items": {"$ref": "#/components/schemas/StorableJson"}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL_PATTERN},
            "additionalProperties": {"$ref": "#/components/schemas/StorableJson"},
        },
    ]
}


def _document_limits(app: FastAPI, settings: IntakeSettings) -> None:
    """Put this deployment's limits (settings) into the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            schemas = doc["components"]["schemas"]
            schemas["StorableJson"] = _STORABLE_JSON
            reports = schemas["BatchCreate"]["properties"]["reports"]
            reports["maxItems"] = settings.batch_max_items
            reports["items"] = {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL_PATTERN},
                "additionalProperties": {"$ref": "#/components/schemas/StorableJson"},
            }
            media = schemas["MediaIn"]["properties"]["data_base64"]
            for option in media["anyOf"]:
                if option.get("type") == "string":
                    option["maxLength"] = base64_length(settings.media_inline_max_bytes)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
