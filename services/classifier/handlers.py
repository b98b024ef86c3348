"""The classifier's handler: score a batch of received reports, publish them classified."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import Counter

from services.classifier.scoring import combine
from services.classifier.signals import Signal
from shared.events import (
    ClassifiedReport,
    ReportClassified,
    ReportReceived,
    SignalResult,
    derive_id,
)
from shared.kafka.consumer import HandlerContext

logger = logging.getLogger(__name__)

SIGNAL_FAILURES = Counter(
    "tns_signal_failures_total", "Signals that failed on a batch.", ["service", "signal"]
)


class ClassifyHandler:
    """Runs every signal over the batch; a failing signal is recorded as missing, not fatal."""

    __name__ = "classify"

    def __init__(self, signals: Sequence[Signal]) -> None:
        self.signals = list(signals)
        self.versions = {s.name: s.version for s in self.signals}

    async def __call__(
        self, events: list[ReportReceived], ctx: HandlerContext
    ) -> list[ReportClassified]:
        return self.classify(events)

    def classify(self, events: list[ReportReceived]) -> list[ReportClassified]:
        reports = [e.payload for e in events]
        per_report: list[list[SignalResult]] = [[] for _ in reports]
        missing: list[str] = []
        for signal in self.signals:
            try:
                results = signal.score(reports)
            except Exception:
                logger.exception("signal %s failed on a batch of %d", signal.name, len(reports))
                SIGNAL_FAILURES.labels("classifier", signal.name).inc()
                missing.append(signal.name)
                continue
            for acc, res in zip(per_report, results, strict=True):
                acc.extend(res)
        out = []
        for event, report, found in zip(events, reports, per_report, strict=True):
            out.append(
                ReportClassified(
                    event_id=derive_id("classified", report.report_id),
                    producer="classifier",
                    correlation_id=event.correlation_id,
                    causation_id=event.event_id,
                    payload=ClassifiedReport(
                        report=report,
                        classification=combine(report, found, self.versions, missing),
                    ),
                )
            )
        return out
