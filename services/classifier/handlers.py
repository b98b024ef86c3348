"""The classifier's handler: score a batch of received reports, publish them classified."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.classifier.calibration import Calibration
from services.classifier.context import ContextSettings, load_context, record_reports
from services.classifier.scoring import NEUTRAL_CONTEXT, Scorer
from services.classifier.signals.base import SignalRun, SignalRunner
from shared.events import (
    ClassifiedReport,
    Report,
    ReportClassified,
    ReportContext,
    ReportReceived,
    derive_id,
    utcnow,
)
from shared.kafka.consumer import HandlerContext


class ClassifyHandler:
    """Runs every signal over the batch and looks up the context, then scores each report.

    Signals run in worker threads while the context queries run on the batch's connection, so
    the database round trips overlap the model time. A failing or slow signal is recorded as
    missing (see ``SignalRunner``); the report is still scored and published.
    """

    __name__ = "classify"

    def __init__(
        self,
        runner: SignalRunner,
        *,
        calibration: Calibration | None = None,
        context: ContextSettings | None = None,
        extra_versions: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.runner = runner
        self.calibration = calibration or Calibration()
        self.context = context
        self.extra_versions = extra_versions or dict

    async def __call__(
        self, events: list[ReportReceived], ctx: HandlerContext
    ) -> list[ReportClassified]:
        reports = [e.payload for e in events]
        if ctx.conn is None or self.context is None:
            run = await self.runner.run(reports)
            return self._build(events, run, None)
        conn, settings = ctx.conn, self.context

        async def context() -> list[ReportContext]:
            await record_reports(conn, reports, settings.text_max_chars)
            return await load_context(conn, reports, settings)

        run, contexts = await asyncio.gather(self.runner.run(reports), context())
        return self._build(events, run, contexts)

    def classify(self, events: list[ReportReceived]) -> list[ReportClassified]:
        """Score without a database or threads (neutral context): evaluation and tests."""
        return self._build(events, self.runner.run_sync([e.payload for e in events]), None)

    def classify_reports(self, reports: list[Report]) -> list[ReportClassified]:
        events = [
            ReportReceived(
                event_id=r.report_id, producer="evaluate", correlation_id=r.report_id, payload=r
            )
            for r in reports
        ]
        return self.classify(events)

    def _build(
        self,
        events: list[ReportReceived],
        run: SignalRun,
        contexts: list[ReportContext] | None,
    ) -> list[ReportClassified]:
        score = Scorer({**self.runner.versions, **self.extra_versions()}, self.calibration)
        # One list for the batch: every classification is frozen and serialised, never changed.
        missing = list(run.missing)
        out = []
        # Built with ``unchecked``: the report was validated when the event was parsed and the
        # scorer builds a typed classification, so validating the whole tree again per report
        # would only repeat that work (the contract tests validate the output).
        construct_event = ReportClassified.unchecked
        construct_payload = ClassifiedReport.unchecked
        now = utcnow()
        if contexts is None:
            contexts = [NEUTRAL_CONTEXT] * len(events)
        for event, found, context in zip(events, run.results, contexts, strict=True):
            report = event.payload
            out.append(
                construct_event(
                    event_id=derive_id("classified", report.report_id),
                    occurred_at=now,
                    producer="classifier",
                    correlation_id=event.correlation_id,
                    causation_id=event.event_id,
                    payload=construct_payload(
                        report=report, classification=score(report, found, missing, context)
                    ),
                )
            )
        return out
