"""The one consumer loop: batch consume, one transaction per batch, dead letters, retries.

Delivery is at least once with idempotent effects:

1. fetch a batch with ``getmany``; a message that does not parse goes to the dead-letter topic;
2. open one database transaction; record the event ids in the service's processed-events
   table and drop those already there (a replay is a no-op);
3. call the batch handler, which writes through the same connection and returns the events
   to publish;
4. send those events and await all their acknowledgements;
5. commit the transaction, then commit the offsets (while the next batch is fetched).

A crash between 4 and 5 republishes the same events on redelivery. Producers derive their
event ids from the ids that caused them (``derive_id``), so consumers downstream skip them.
Without a crash, a batch retried after a failure (an outage, a partial send, a failed commit)
does not republish the events the broker already acknowledged for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy import ARRAY, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.config import ServiceSettings
from shared.errors import PoisonMessageError, RetryableError
from shared.events import Event
from shared.kafka.producer import EventProducer, Publication
from shared.logging import correlation_id_var
from shared.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    DUPLICATES_SKIPPED,
    HANDLER_BATCH_SIZE,
    HANDLER_LATENCY,
    HANDLER_RETRIES,
    MESSAGES_CONSUMED,
)

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

# Failures of the infrastructure, not of the message: retried until it comes back, so an outage
# of PostgreSQL or the broker delays messages but never dead-letters them.
_INFRA_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    KafkaError,
    OperationalError,
    InterfaceError,
)


@dataclass(slots=True)
class HandlerContext:
    """What a batch handler gets besides its events.

    ``publication`` takes events the handler wants on their way before it returns (``await
    ctx.publication.send(events)``, e.g. before writing its rows, so that the broker works while
    the database does); the loop awaits their acknowledgements with those of the returned
    events, before the transaction commits.
    """

    settings: ServiceSettings
    conn: AsyncConnection | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    publication: Publication | None = None


BatchHandler = Callable[[list[E], HandlerContext], Awaitable[Sequence[Event]]]


# SQLSTATE classes of a database that is down or briefly unable, never of the message:
# connection exceptions, insufficient resources, operator intervention ("the database system is
# shutting down", "... is starting up") and transaction rollbacks (deadlock, serialization).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40")


def _is_infra_error(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES:
            return True
    return isinstance(exc, _INFRA_ERRORS)


class ConsumerLoop(Generic[E]):
    """Consumes one event type from one or more topics and runs a batch handler on it."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        topics: list[str],
        event_type: type[E],
        handler: BatchHandler[E],
        producer: EventProducer,
        engine: AsyncEngine | None = None,
        processed_table: Table | None = None,
        name: str | None = None,
        background: bool = False,
    ) -> None:
        """``background``: off the path of a report (no one waits on its latency), so it polls
        an idle broker less often (``consumer_background_fetch_wait_ms``)."""
        self.settings = settings
        self.fetch_wait_ms = (
            settings.consumer_background_fetch_wait_ms
            if background
            else settings.consumer_fetch_wait_ms
        )
        self.topics = topics
        self.event_type = event_type
        self.handler = handler
        self.producer = producer
        self.engine = engine
        self.processed_table = processed_table
        if processed_table is not None:
            ids = bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
            self._claim_statement = (
                insert(processed_table)
                .from_select(["event_id"], select(func.unnest(ids)))
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(processed_table.c.event_id)
            )
        self.name: str = name or str(getattr(handler, "__name__", "handler"))
        self.service = settings.service_name
        self.dlq_topic = producer.topics.dlq(self.service)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._committing: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.healthy = True
        self.last_batch_at: float | None = None

    async def start(self) -> None:
        """Connect, subscribe and start the loop in a background task.

        The group is joined in the background: the loop's first fetch waits for the assignment,
        so a service starts (and answers ``/readyz``) without waiting for a rebalance, which on
        a restart can take longer than everything else the service does to start.
        """
        instance = self.settings.kafka_group_instance_id
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.group_id,
            group_instance_id=f"{instance}-{self.name}" if instance else None,
            client_id=self.settings.kafka_client_id or f"tns-{self.service}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.consumer_batch_max,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=self.fetch_wait_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=1_000,
            rebalance_timeout_ms=30_000,
        )
        await self._consumer.start()
        self._consumer.subscribe(self.topics)
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    @property
    def assigned(self) -> int:
        """How many partitions the group has given this loop (0 until it has joined)."""
        return len(self._consumer.assignment()) if self._consumer is not None else 0

    async def stop(self) -> None:
        """Stop fetching, finish the batch in hand, commit, and leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=30)
            except TimeoutError:
                self._task.cancel()
            except Exception:
                logger.exception("consumer loop %s ended with an error", self.name)
        if self._consumer is not None:
            # aiokafka does not send a static member's LeaveGroup (KIP-345: it is expected back
            # under its name), so its partitions would wait for its session to expire. A stopped
            # service is going away (scaled down, or replaced by a pod of another name), so it
            # leaves like a dynamic member; a crashed one keeps its name and its place.
            coordinator = getattr(self._consumer, "_coordinator", None)
            if coordinator is not None:
                coordinator._group_instance_id = None
            # aiokafka's fetcher can surface its own cancelled retry sleep when the broker is
            # already gone; the offsets are committed by now, so there is nothing to lose.
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping.is_set():
            try:
                batch = await consumer.getmany(
                    timeout_ms=self.settings.consumer_poll_ms,
                    max_records=self.settings.consumer_batch_max,
                )
            except KafkaError:
                logger.warning("fetch failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            await self._process_until_done(records)
            # The batch's offsets are committed while the next batch is fetched and handled (a
            # round trip off every batch's path); the one before must have landed first.
            offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
            await self._settle_commit()
            self._committing = asyncio.create_task(self._commit(offsets))
            self.last_batch_at = time.monotonic()
            await self._record_lag(list(batch))
        await self._settle_commit()

    async def _settle_commit(self) -> None:
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    async def _process_until_done(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        delay = self.settings.handler_backoff_initial_s
        acked: set[uuid.UUID] = set()  # events of this batch the broker holds, across retries
        while True:
            try:
                await self.process(records, acked)
                self.healthy = True
                return
            except Exception as exc:
                # Poison messages were dead-lettered inside process(); what reaches here is an
                # outage (or a bug): retry the batch rather than skip it or let the loop die.
                self.healthy = False
                HANDLER_RETRIES.labels(self.service, self.name).inc()
                if _is_infra_error(exc):
                    logger.warning("infrastructure error, retrying in %.1fs: %s", delay, exc)
                else:
                    logger.exception("batch failed unexpectedly, retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.handler_backoff_max_s)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        delay = self.settings.handler_backoff_initial_s
        while True:
            # Only partitions still assigned: a revoked one's batch is redelivered to its new
            # owner, which is safe because effects are idempotent.
            assigned = self._consumer.assignment()
            todo = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            if not todo:
                return
            try:
                await self._consumer.commit(todo)
                return
            except KafkaError as exc:
                # After a rebalance the batch is redelivered to the new owner: that is safe,
                # because effects are idempotent.
                if self._stopping.is_set():
                    logger.warning("offset commit failed on shutdown: %s", exc)
                    return
                logger.warning("offset commit failed, retrying: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.handler_backoff_max_s)

    async def _record_lag(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        for tp in partitions:
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            position = await self._consumer.position(tp)
            CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                max(0, high - position)
            )

    async def process(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        acked: set[uuid.UUID] | None = None,
    ) -> None:
        """Parse, handle and publish one fetched batch; dead-letter what cannot be handled.

        ``acked`` collects the ids of the events published for the batch; a retry passes the
        same set so that those are not sent twice.
        """
        acked = set() if acked is None else acked
        events: list[E] = []
        origins: dict[uuid.UUID, ConsumerRecord[bytes, bytes]] = {}
        dead: list[asyncio.Future[object]] = []
        # Counted per topic once per batch: a labelled metric's lookup is not free per message.
        consumed: dict[str, int] = {}
        for record in records:
            consumed[record.topic] = consumed.get(record.topic, 0) + 1
        for topic, count in consumed.items():
            MESSAGES_CONSUMED.labels(self.service, topic).inc(count)
        for record in records:
            try:
                if record.value is None:
                    raise ValueError("empty message")
                event = self.event_type.from_bytes(record.value)
            except (ValidationError, ValueError) as exc:
                dead.append(await self._dead_letter(record, "invalid", exc))
                continue
            if event.event_id in origins:
                continue
            origins[event.event_id] = record
            events.append(event)
        if events:
            try:
                await self._handle_with_retries(events, acked)
            except Exception as exc:
                if _is_infra_error(exc):
                    raise
                # Find the poison message(s): handle one at a time, dead-letter the failures.
                for event in events:
                    try:
                        await self._handle_with_retries([event], acked)
                    except Exception as single_exc:
                        if _is_infra_error(single_exc):
                            raise
                        dead.append(
                            await self._dead_letter(origins[event.event_id], "handler", single_exc)
                        )
        if dead:
            await asyncio.gather(*dead)

    async def _handle_with_retries(self, events: list[E], acked: set[uuid.UUID]) -> None:
        delay = self.settings.handler_backoff_initial_s
        attempt = 0
        while True:
            try:
                await self._handle(events, acked)
                return
            except RetryableError:
                attempt += 1
                if attempt > self.settings.handler_max_retries:
                    raise
                HANDLER_RETRIES.labels(self.service, self.name).inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.handler_backoff_max_s)

    async def _handle(self, events: list[E], acked: set[uuid.UUID]) -> None:
        started = time.perf_counter()
        publication = Publication(self.producer, acked)
        if self.engine is None:
            await self._run_handler(events, HandlerContext(self.settings, publication=publication))
        else:
            async with self.engine.begin() as conn:
                fresh = await self._claim(conn, events)
                if fresh:
                    ctx = HandlerContext(self.settings, conn, publication=publication)
                    await self._run_handler(fresh, ctx)
        HANDLER_LATENCY.labels(self.service, self.name).observe(time.perf_counter() - started)
        HANDLER_BATCH_SIZE.labels(self.service, self.name).observe(len(events))

    async def _run_handler(self, events: list[E], ctx: HandlerContext) -> None:
        """The handler, then its events out and acknowledged; on a failure, what the handler had
        already sent is still awaited, so that a retry does not send it again."""
        assert ctx.publication is not None
        try:
            out = await self._call_handler(events, ctx)
        except BaseException:
            await ctx.publication.settle()
            raise
        await ctx.publication.send(out)
        await ctx.publication.wait()

    async def _call_handler(self, events: list[E], ctx: HandlerContext) -> Sequence[Event]:
        token = correlation_id_var.set(str(events[0].correlation_id) if len(events) == 1 else None)
        try:
            return await self.handler(events, ctx)
        finally:
            correlation_id_var.reset(token)

    async def _claim(self, conn: AsyncConnection, events: list[E]) -> list[E]:
        """Record the events as processed; return only those not processed before."""
        if self.processed_table is None:
            return events
        # One statement with one array parameter: no per-row parameter processing.
        result = await conn.execute(self._claim_statement, {"ids": [e.event_id for e in events]})
        claimed = set(result.scalars())
        if len(claimed) < len(events):
            DUPLICATES_SKIPPED.labels(self.service).inc(len(events) - len(claimed))
        return [e for e in events if e.event_id in claimed]

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, exc: BaseException
    ) -> asyncio.Future[object]:
        if isinstance(exc, PoisonMessageError | ValidationError | ValueError):
            level = logging.WARNING
        else:
            level = logging.ERROR
        logger.log(
            level,
            "dead-lettering message %s/%s@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            str(exc)[:500],
        )
        DEAD_LETTERS.labels(self.service, record.topic, reason).inc()
        headers = [
            *(record.headers or ()),
            ("tns-dlq-reason", reason.encode()),
            ("tns-dlq-error", f"{type(exc).__name__}: {exc}"[:4000].encode()),
            ("tns-dlq-service", self.service.encode()),
            ("tns-dlq-topic", record.topic.encode()),
            ("tns-dlq-partition", str(record.partition).encode()),
            ("tns-dlq-offset", str(record.offset).encode()),
        ]
        return await self.producer.send_record(
            self.dlq_topic, record.value, key=record.key, headers=headers
        )
