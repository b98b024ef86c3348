"""Accepted reports are written and published in micro-batches.

Each request waits for its batch: one transaction inserts every report of the batch, the
``ReportReceived`` events are sent together, and the transaction commits only after the broker
acknowledged them all. A request is answered 202 only then. A retried request with the same
``Idempotency-Key`` gets the original report back and publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

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
    idempotency_key: str | None
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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-writer")

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, event: ReportReceived, idempotency_key: str | None) -> Stored:
        if self._closing:
            raise RuntimeError("intake is shutting down")
        pending = _Pending(event, idempotency_key)
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
        rows = []
        for p in batch:
            r = p.event.payload
            rows.append(
                {
                    "report_id": r.report_id,
                    "client_id": r.client_id,
                    "idempotency_key": p.idempotency_key,
                    "received_at": r.received_at,
                    "source": r.source.value,
                    "policy_area": r.policy_area.value,
                    "dsa_category": r.dsa_category.value,
                    "subject_type": r.subject.subject_type.value,
                    "subject_id": r.subject.subject_id,
                    "payload": r.model_dump(mode="json"),
                }
            )
        async with self.engine.begin() as conn:
            inserted = set(
                (
                    await conn.execute(
                        insert(reports)
                        .values(rows)
                        .on_conflict_do_nothing()
                        .returning(reports.c.report_id)
                    )
                ).scalars()
            )
            fresh = [p for p in batch if p.event.payload.report_id in inserted]
            dupes = [p for p in batch if p.event.payload.report_id not in inserted]
            originals: dict[tuple[str, str], Stored] = {}
            if dupes:
                keys = {(p.event.payload.client_id, p.idempotency_key) for p in dupes}
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
            await self.producer.publish([p.event for p in fresh])
        for p in fresh:
            p.future.set_result(
                Stored(p.event.payload.report_id, p.event.payload.received_at, "received", False)
            )
        for p in dupes:
            key = (p.event.payload.client_id, p.idempotency_key or "")
            stored = originals.get(key)
            if stored is None:
                p.future.set_exception(RuntimeError("idempotency conflict could not be resolved"))
            else:
                p.future.set_result(stored)
