"""The signal plug-in interface and the runner that enforces each signal's time budget.

A signal has a name and a version (recorded on every ``ReportClassified``) and scores whole
batches, because the models are vectorised and per-report calls would waste most of their time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from prometheus_client import Counter, Histogram

from shared.events import Report, SignalResult

logger = logging.getLogger(__name__)

SIGNAL_LATENCY = Histogram(
    "tns_signal_seconds",
    "Time one signal took on one batch.",
    ["service", "signal"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SIGNAL_FIRED = Counter(
    "tns_signal_fired_total", "Signal results that fired on a report.", ["service", "signal"]
)
SIGNAL_FAILURES = Counter(
    "tns_signal_failures_total",
    "Batches on which a signal failed (error) or exceeded its time budget (budget).",
    ["service", "signal", "reason"],
)


@runtime_checkable
class Signal(Protocol):
    """A plug-in: ``score`` returns one list of results per report, in order."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def score(self, reports: list[Report]) -> list[list[SignalResult]]: ...


@dataclass(frozen=True, slots=True)
class SignalRun:
    """What the runner got from all signals for one batch."""

    results: list[list[SignalResult]]
    missing: list[str]


class SignalRunner:
    """Runs the signals on a batch in one worker thread, each under its time budget.

    One thread, signals one after the other: the GIL serialises their Python work anyway, and
    with several CPU-bound threads on a busy machine each hand-over of the GIL waits for the OS
    to schedule the next thread, which measured about twice the CPU time per report. The
    event loop stays free for the context queries meanwhile.

    A signal that raises, or whose batch took longer than its budget, is recorded as missing
    and counted; the others still score. If the whole run exceeds the sum of the budgets, the
    signals not finished by then are missing too (a hung signal keeps its thread, but no
    report waits for it beyond that).
    """

    def __init__(
        self,
        signals: Sequence[Signal],
        *,
        budget_seconds: float,
        budgets: dict[str, float] | None = None,
        service: str = "classifier",
    ) -> None:
        self.signals = list(signals)
        self.service = service
        self._budgets = {s.name: (budgets or {}).get(s.name, budget_seconds) for s in self.signals}
        self._deadline = sum(self._budgets.values())
        self._latency = {s.name: SIGNAL_LATENCY.labels(service, s.name) for s in self.signals}
        self._fired = {s.name: SIGNAL_FIRED.labels(service, s.name) for s in self.signals}

    @property
    def versions(self) -> dict[str, str]:
        return {s.name: s.version for s in self.signals}

    def budget(self, name: str) -> float:
        return self._budgets[name]

    def _fail(self, signal: Signal, reason: str, n: int) -> None:
        SIGNAL_FAILURES.labels(self.service, signal.name, reason).inc()
        if reason == "budget":
            logger.warning(
                "signal %s exceeded its %.3fs budget on a batch of %d",
                signal.name,
                self._budgets[signal.name],
                n,
            )
        else:
            logger.error("signal %s failed on a batch of %d", signal.name, n, exc_info=True)

    def _score_all(
        self,
        reports: list[Report],
        done: dict[str, list[list[SignalResult]] | None],
        abandoned: threading.Event,
    ) -> None:
        for signal in self.signals:
            if abandoned.is_set():
                return
            started = time.perf_counter()
            try:
                out = signal.score(reports)
                if len(out) != len(reports):
                    raise ValueError(f"{signal.name}: {len(out)} results for {len(reports)}")
            except Exception:
                self._fail(signal, "error", len(reports))
                done[signal.name] = None
                continue
            took = time.perf_counter() - started
            self._latency[signal.name].observe(took)
            if took > self._budgets[signal.name]:
                self._fail(signal, "budget", len(reports))
                done[signal.name] = None
            else:
                done[signal.name] = out

    def _merge(self, n: int, done: dict[str, list[list[SignalResult]] | None]) -> SignalRun:
        merged: list[list[SignalResult]] = [[] for _ in range(n)]
        missing: list[str] = []
        for signal in self.signals:
            out = done.get(signal.name)
            if out is None:
                missing.append(signal.name)
                continue
            fired = 0
            for acc, res in zip(merged, out, strict=True):
                acc.extend(res)
                fired += len(res)
            if fired:
                self._fired[signal.name].inc(fired)
        return SignalRun(merged, missing)

    async def run(self, reports: list[Report]) -> SignalRun:
        """All signals in a worker thread; those not done by the overall deadline are missing."""
        done: dict[str, list[list[SignalResult]] | None] = {}
        abandoned = threading.Event()
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._score_all, reports, done, abandoned), self._deadline
            )
        except TimeoutError:
            abandoned.set()
            done = dict(done)  # a snapshot: the thread may still write to the original
            for signal in self.signals:
                if signal.name not in done:
                    self._fail(signal, "budget", len(reports))
        return self._merge(len(reports), done)

    def run_sync(self, reports: list[Report]) -> SignalRun:
        """All signals in this thread (offline evaluation, tests); budgets checked after each."""
        done: dict[str, list[list[SignalResult]] | None] = {}
        self._score_all(reports, done, threading.Event())
        return self._merge(len(reports), done)
