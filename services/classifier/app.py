"""The classifier service: the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier.api import router
from services.classifier.banks import BankStore
from services.classifier.calibration import Calibration
from services.classifier.context import ContextSettings, DecisionHandler, prune_records
from services.classifier.handlers import ClassifyHandler
from services.classifier.ml import load_model
from services.classifier.models import SCHEMA, api_keys
from services.classifier.settings import ClassifierSettings
from services.classifier.signals import (
    HashSignal,
    ProfanitySignal,
    RuleSignal,
    Signal,
    SignalRunner,
    TextModelSignal,
    UrlSignal,
    load_rule_file,
    load_url_config,
)
from shared.apikeys import KeyStore
from shared.events import DecisionMade, ReportReceived
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app, freeze_startup_heap

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
PRUNE_INTERVAL_SECONDS = 3600.0


def build_signals(settings: ClassifierSettings, banks: BankStore | None = None) -> list[Signal]:
    """The default signal set; a bad rules, URL or model file stops start-up with the reason."""
    # The spam model first: an ONNX model runs without holding the GIL, so the batch's context
    # queries on the event loop overlap it rather than wait for the Python signals.
    return [
        TextModelSignal(load_model(settings.spam_model_path), settings.spam_threshold),
        RuleSignal(load_rule_file(settings.rules_path)),
        ProfanitySignal(
            settings.profanity_threshold, settings.profanity_weight, settings.model_cache_dir
        ),
        UrlSignal(load_url_config(settings.url_config_path), watch=settings.url_config_path),
        HashSignal(banks or BankStore(), settings.pdq_distance_threshold),
    ]


def build_handler(
    settings: ClassifierSettings, banks: BankStore | None = None, *, with_context: bool = True
) -> ClassifyHandler:
    banks = banks or BankStore()
    return ClassifyHandler(
        SignalRunner(build_signals(settings, banks), budget_seconds=settings.signal_budget_seconds),
        calibration=Calibration.load(settings.calibration_path),
        context=ContextSettings(
            prior_a=settings.reputation_prior_a,
            prior_b=settings.reputation_prior_b,
            velocity_window=timedelta(seconds=settings.velocity_window_seconds),
            text_max_chars=settings.record_text_max_chars,
        )
        if with_context
        else None,
        extra_versions=lambda: banks.index.versions(),
    )


async def _prune_forever(engine: AsyncEngine, retention: timedelta) -> None:
    while True:
        try:
            async with engine.begin() as conn:
                n = await prune_records(conn, retention)
            if n:
                logger.info("pruned %d report records older than %s", n, retention)
        except Exception:
            logger.warning("pruning report records failed", exc_info=True)
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


def create_app(settings: ClassifierSettings | None = None) -> FastAPI:
    settings = settings or ClassifierSettings()
    banks = BankStore(interval=settings.bank_refresh_seconds)
    handler = build_handler(settings, banks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            topics=[
                topics.reports_received,
                topics.reports_classified,
                topics.decisions,
                topics.dlq(settings.service_name),
            ],
        )
        app.state.runtime = runtime
        app.state.keys = KeyStore(runtime.engine, api_keys, settings.api_key_cache_seconds)
        app.state.banks = banks
        banks.engine = runtime.engine
        pruner: asyncio.Task[None] | None = None
        try:
            await banks.start()
            pruner = asyncio.create_task(
                _prune_forever(runtime.engine, timedelta(days=settings.record_retention_days))
            )
            # Before the consumers start: batches are processed from the first fetch on.
            freeze_startup_heap()
            # Its own consumer group: the two loops subscribe to different topics.
            decisions_settings = settings.model_copy(
                update={"consumer_group": f"{settings.group_id}-decisions"}
            )
            # Both join their groups at once: a start returns once the group has assigned its
            # partitions (seconds on a rejoin), and one after the other those waits would add up.
            async with asyncio.TaskGroup() as starting:
                starting.create_task(
                    runtime.add_consumer(
                        ConsumerLoop(
                            settings=settings,
                            topics=[topics.reports_received],
                            event_type=ReportReceived,
                            handler=handler,
                            producer=runtime.producer,
                            engine=runtime.engine,
                        )
                    )
                )
                starting.create_task(
                    runtime.add_consumer(
                        ConsumerLoop(
                            settings=decisions_settings,
                            topics=[topics.decisions],
                            event_type=DecisionMade,
                            handler=DecisionHandler(),
                            producer=runtime.producer,
                            engine=runtime.engine,
                            background=True,
                        )
                    )
                )
            yield
        finally:
            if pruner is not None:
                pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruner
            await banks.stop()
            await runtime.stop()

    return build_app(
        settings,
        title="T&S classifier",
        description="Scores reports with rules, models, URL checks, hash banks and context; "
        "publishes ReportClassified. Manages the hash banks.",
        lifespan=lifespan,
        routers=[router],
        max_body_bytes=settings.max_body_bytes,
    )
