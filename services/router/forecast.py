"""Arrivals forecast per queue from recent hourly history (Holt-Winters, statsmodels).

Additive seasonality of one week (168 hours: the daily cycle and the weekday pattern together)
when two full weeks of history exist, else of one day (24 hours) with two full days, else the
recent mean. statsmodels (and pandas under it) is imported on first use only: it costs seconds
to import, which the services never pay at start-up.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WEEK = 168
DAY = 24


def season_for(hours: int) -> int | None:
    """The seasonal period the history supports: a week, a day, or none."""
    if hours >= 2 * WEEK:
        return WEEK
    if hours >= 2 * DAY:
        return DAY
    return None


def forecast_hourly(history: Sequence[float], horizon: int) -> list[float]:
    """Arrivals for each of the next ``horizon`` hours (never negative)."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    if not history:
        return [0.0] * horizon
    period = season_for(len(history))
    if period is None or min(history) == max(history):
        # Too short for a season, or flat (a queue without arrivals): nothing to fit.
        mean = sum(history) / len(history)
        return [mean] * horizon
    import numpy as np
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]

    y = np.asarray(history, dtype=float)
    with warnings.catch_warnings():
        # Convergence chatter on short or flat series; the fit is still usable.
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(
            y,
            trend=None,
            seasonal="add",
            seasonal_periods=period,
            initialization_method="estimated",
        ).fit()
        predicted = fit.forecast(horizon)
    return [max(0.0, float(v)) for v in predicted]


_HISTORY = text(
    """
    SELECT h.hour, count(c.case_id) AS arrivals
      FROM generate_series(date_trunc('hour', CAST(:start AS timestamptz)),
                           date_trunc('hour', CAST(:end AS timestamptz)) - interval '1 hour',
                           interval '1 hour') AS h(hour)
      LEFT JOIN router.cases c
        ON c.queue = :queue AND c.kind = 'report'
       AND c.created_at >= h.hour AND c.created_at < h.hour + interval '1 hour'
     GROUP BY h.hour ORDER BY h.hour
    """
)


async def queue_history(
    engine: AsyncEngine, queue: str, *, end: datetime, days: int
) -> list[tuple[datetime, int]]:
    """Cases opened in ``queue`` per whole hour over ``days`` days before ``end`` (zeros kept)."""
    params: dict[str, Any] = {"queue": queue, "start": end - timedelta(days=days), "end": end}
    async with engine.connect() as conn:
        return [(r.hour, r.arrivals) for r in await conn.execute(_HISTORY, params)]


async def forecast_queue(
    engine: AsyncEngine, queue: str, *, now: datetime, days: int, horizon: int
) -> list[dict[str, Any]]:
    """The next ``horizon`` hours of arrivals for ``queue``, from ``days`` days of history."""
    history = await queue_history(engine, queue, end=now, days=days)
    # The fit is CPU work (and the first one imports statsmodels): off the event loop.
    values = await asyncio.to_thread(forecast_hourly, [float(n) for _, n in history], horizon)
    start = history[-1][0] + timedelta(hours=1) if history else now
    return [
        {"hour": (start + timedelta(hours=i)).isoformat(), "arrivals": v}
        for i, v in enumerate(values)
    ]
