"""The automation circuit breaker: pause automated actions of an area when their rate jumps.

Counts are kept in tumbling windows (``window_seconds``); when a window closes, its count feeds an
exponentially weighted moving average, the baseline. A window trips the breaker for a policy area
when, after ``warmup_windows``, its count reaches ``min_count`` and exceeds ``factor`` times the
baseline; a single signal matching far more than its own baseline trips its area the same way.
While open (``cooldown_seconds``) the area's would-be automated actions go to human review.

State is per replica and in memory: each replica judges the traffic it consumes, which with
subject-keyed partitions is a fair sample of every area. A restart begins a new warm-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.router.metrics import CIRCUIT_OPEN, CIRCUIT_TRIPS
from services.router.policy import BreakerConfig
from shared.taxonomy import PolicyArea


@dataclass(slots=True)
class _Rate:
    """Counts in the current window and the EWMA baseline of the closed ones."""

    window_start: float
    count: int = 0
    baseline: float = 0.0
    windows_seen: int = 0

    def observe(self, now: float, window: float, alpha: float) -> None:
        elapsed = int((now - self.window_start) // window)
        if elapsed > 0:
            # Close the current window, then any empty ones that passed since (bounded).
            for i in range(min(elapsed, 50)):
                value = self.count if i == 0 else 0
                self.baseline = (
                    value if self.windows_seen == 0 else alpha * value + (1 - alpha) * self.baseline
                )
                self.windows_seen += 1
            self.count = 0
            self.window_start += elapsed * window
        self.count += 1


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._actions: dict[PolicyArea, _Rate] = {}
        self._signals: dict[str, _Rate] = {}
        self._open_until: dict[PolicyArea, float] = {}

    def _spiking(self, rate: _Rate, factor: float, min_count: int) -> bool:
        c = self.config
        return (
            rate.windows_seen >= c.warmup_windows
            and rate.count >= min_count
            and rate.count > factor * max(rate.baseline, c.baseline_floor)
        )

    def _trip(self, area: PolicyArea, now: float, cause: str) -> None:
        if self._open_until.get(area, 0.0) <= now:
            CIRCUIT_TRIPS.labels(area.value, cause).inc()
        self._open_until[area] = now + self.config.cooldown_seconds
        CIRCUIT_OPEN.labels(area.value).set(1)

    def observe_signals(self, matches: Iterable[tuple[str, PolicyArea]]) -> None:
        """Count signal matches of one report; a spiking signal opens its area's breaker."""
        if not self.config.enabled:
            return
        now = self.clock()
        c = self.config
        for name, area in matches:
            rate = self._signals.get(name)
            if rate is None:
                rate = self._signals[name] = _Rate(window_start=now)
            rate.observe(now, c.window_seconds, c.alpha)
            if self._spiking(rate, c.signal_factor, c.signal_min_count):
                self._trip(area, now, "signal")

    def allow_action(self, area: PolicyArea) -> bool:
        """Count one would-be automated action; False when the area's breaker is (now) open."""
        if not self.config.enabled:
            return True
        now = self.clock()
        c = self.config
        rate = self._actions.get(area)
        if rate is None:
            rate = self._actions[area] = _Rate(window_start=now)
        rate.observe(now, c.window_seconds, c.alpha)
        if self._spiking(rate, c.factor, c.min_count):
            self._trip(area, now, "rate")
        return not self.is_open(area, now)

    def is_open(self, area: PolicyArea, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        until = self._open_until.get(area)
        if until is None:
            return False
        if until <= now:
            del self._open_until[area]
            CIRCUIT_OPEN.labels(area.value).set(0)
            return False
        return True

    def refresh(self) -> None:
        """Close breakers whose cool-down ended, so the gauge falls without new traffic."""
        now = self.clock()
        for area in list(self._open_until):
            self.is_open(area, now)
