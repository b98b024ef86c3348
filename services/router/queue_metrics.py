"""Per-queue gauges recomputed from the database, so every replica reports the same truth."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router.breaker import CircuitBreaker
from services.router.kpis import refresh_breach_metrics
from services.router.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE, QUEUE_PAST_DEADLINE

logger = logging.getLogger(__name__)

_SQL = text(
    "SELECT queue, count(*) AS depth, "
    "COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS oldest, "
    "count(*) FILTER (WHERE deadline < now()) AS past "
    "FROM router.cases WHERE status <> 'decided' GROUP BY queue"
)


async def refresh_queue_metrics(engine: AsyncEngine, known: set[str]) -> None:
    """Set depth, oldest age and past-deadline count per queue; zero queues now empty."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_SQL)).all()
    seen = set()
    for r in rows:
        seen.add(r.queue)
        QUEUE_DEPTH.labels(r.queue).set(r.depth)
        QUEUE_OLDEST_AGE.labels(r.queue).set(float(r.oldest))
        QUEUE_PAST_DEADLINE.labels(r.queue).set(r.past)
    for queue in known - seen:
        QUEUE_DEPTH.labels(queue).set(0)
        QUEUE_OLDEST_AGE.labels(queue).set(0)
        QUEUE_PAST_DEADLINE.labels(queue).set(0)
    known |= seen


async def run_queue_metrics(
    engine: AsyncEngine,
    breaker: CircuitBreaker,
    queues: set[str],
    interval: float,
    default_handle_seconds: float = 600,
) -> None:
    """The background task: refresh the gauges every ``interval`` seconds until cancelled."""
    known = set(queues)
    while True:
        breaker.refresh()
        try:
            await refresh_queue_metrics(engine, known)
            await refresh_breach_metrics(engine, known, default_aht_seconds=default_handle_seconds)
        except Exception:
            logger.warning("queue metrics refresh failed", exc_info=True)
        await asyncio.sleep(interval)


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
