"""The classifier service: the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.classifier.handlers import ClassifyHandler
from services.classifier.settings import ClassifierSettings
from services.classifier.signals import ProfanitySignal, RuleSignal, Signal, load_rule_file
from shared.events import ReportReceived
from shared.kafka.consumer import ConsumerLoop
from shared.kafka.topics import Topics
from shared.service import Runtime, build_app


def build_signals(settings: ClassifierSettings) -> list[Signal]:
    """The default signal set; a bad rules file stops start-up with the reason."""
    return [
        RuleSignal(load_rule_file(settings.rules_path)),
        ProfanitySignal(settings.profanity_threshold),
    ]


def create_app(settings: ClassifierSettings | None = None) -> FastAPI:
    settings = settings or ClassifierSettings()
    handler = ClassifyHandler(build_signals(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = Topics(settings.topic_namespace)
        runtime = await Runtime.start(
            settings,
            migrations_dir=None,
            schema=None,
            topics=[
                topics.reports_received,
                topics.reports_classified,
                topics.dlq(settings.service_name),
            ],
        )
        app.state.runtime = runtime
        try:
            await runtime.add_consumer(
                ConsumerLoop(
                    settings=settings,
                    topics=[topics.reports_received],
                    event_type=ReportReceived,
                    handler=handler,
                    producer=runtime.producer,
                )
            )
            yield
        finally:
            await runtime.stop()

    return build_app(
        settings,
        title="T&S classifier",
        description="Scores reports with rules and models; publishes ReportClassified.",
        lifespan=lifespan,
    )
