"""Accepted reports are written and published in micro-batches.

Each request waits for its batch: one transaction inserts every report of the batch, the
``ReportReceived`` events are sent together, and the transaction commits only after the broker
acknowledged them all. A request is answered 202 only then. A retried request with the same
``Idempotency-Key`` gets the original report back and publishes nothing. A held notice (its
reporter is suspended under DSA Art. 23) is stored in the same transaction but never published.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.models import reports
from shared.events import ReportReceived
from shared.kafka.producer import EventProducer


@dataclass(frozen=True, slots=True)
class Stored:
    report_id: uuid.UUID
    received_at: datetime
    status: str
    duplicate: bool


@dataclass(slots=True)
class _Pending:
    event: ReportReceived
    row: dict[str, Any]
    publish: bool
    future: asyncio.Future[Stored] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ReportWriter:
    def __init__(
        self, engine: AsyncEngine, producer: EventProducer, *, batch_max: int, linger_ms: float
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.batch_max = batch_max
        self.linger = linger_ms / 1000
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._insert = insert(reports).on_conflict_do_nothing().returning(reports.c.report_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-writer")

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(
        self,
        event: ReportReceived,
        row: dict[str, Any],
        idempotency_key: str | None,
        *,
        publish: bool = True,
    ) -> Stored:
        """Store ``row`` (and publish ``event`` unless held); resolves when both are durable."""
        if self._closing:
            raise RuntimeError("intake is shutting down")
        pending = _Pending(event, {**row, "idempotency_key": idempotency_key}, publish)
        self._queue.append(pending)
        self._wakeup.set()
        return await pending.future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                if self._closing:
                    return
                continue
            if len(self._queue) < self.batch_max and self.linger > 0:
                # Let concurrent requests join the batch; the wait bounds the added latency.
                await asyncio.sleep(self.linger)
            while self._queue:
                batch, self._queue = self._queue[: self.batch_max], self._queue[self.batch_max :]
                try:
                    await self._flush(batch)
                except Exception as exc:
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)

    async def _flush(self, batch: list[_Pending]) -> None:
        rows = [p.row for p in batch]
        async with self.engine.begin() as conn:
            inserted = set(
                (
                    # executemany (insertmanyvalues): the statement is compiled once, not per
                    # batch size.
                    await conn.execute(self._insert, rows)
                ).scalars()
            )
            fresh = [p for p in batch if p.event.payload.report_id in inserted]
            dupes = [p for p in batch if p.event.payload.report_id not in inserted]
            originals: dict[tuple[str, str], Stored] = {}
            if dupes:
                keys = {(p.row["client_id"], p.row["idempotency_key"]) for p in dupes}
                found = await conn.execute(
                    select(
                        reports.c.client_id,
                        reports.c.idempotency_key,
                        reports.c.report_id,
                        reports.c.received_at,
                        reports.c.status,
                    ).where(tuple_(reports.c.client_id, reports.c.idempotency_key).in_(keys))
                )
                for row in found:
                    originals[(row.client_id, row.idempotency_key)] = Stored(
                        row.report_id, row.received_at, row.status, duplicate=True
                    )
            await self.producer.publish([p.event for p in fresh if p.publish])
        for p in fresh:
            p.future.set_result(
                Stored(
                    p.event.payload.report_id,
                    p.event.payload.received_at,
                    p.row["status"],
                    duplicate=False,
                )
            )
        for p in dupes:
            key = (p.row["client_id"], p.row["idempotency_key"] or "")
            stored = originals.get(key)
            if stored is None:
                p.future.set_exception(RuntimeError("idempotency conflict could not be resolved"))
            else:
                p.future.set_result(stored)
