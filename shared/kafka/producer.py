"""Publishing: the one producer every service sends through, and its two strategies.

- **Batched per partition** (``Publication``; ``EventProducer.publish`` sends and waits):
  events, serialised here, are appended to one record batch per topic partition and each batch
  is handed to the client whole (``create_batch``/``send_batch``), one future per batch. For
  consumer handlers and the APIs that publish a batch's events at once.
- **One record at a time** (``EventProducer.send_record``; ``publish_records`` sends and
  waits): records already serialised go one by one into the client's open batch for their
  partition (``send``), where records of other callers in flight join them. For intake's
  writer, whose many small concurrent flushes share batches this way, and for dead letters.

Both choose partitions with the one partitioner the client was built with (the client's
``DefaultPartitioner``: Kafka's murmur2 of the key), so a keyed event lands on the partition a
plain ``AIOKafkaProducer.send`` would have chosen. Acknowledgements are awaited before the
caller commits; ``MESSAGES_PRODUCED`` counts what ``publish``, ``Publication.wait`` and
``publish_records`` saw acknowledged (dead letters are counted as such by the consumer loop).
Only the client's public API is used.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from shared.config import ServiceSettings
from shared.events import Event
from shared.kafka.topics import Topics
from shared.metrics import MESSAGES_PRODUCED

# One produce request at most (the client's default); a larger event is refused, not split.
MAX_REQUEST_BYTES = 1024 * 1024

# ``partitioner(key, all_partitions, available_partitions) -> partition``, as the client calls it.
Partitioner = Callable[[bytes | None, list[int], list[int]], int]


class OutgoingRecord(Protocol):
    """A message already serialised, for the one-record-at-a-time strategy."""

    @property
    def topic(self) -> str: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class EventProducer:
    """Publishes keyed messages; never one awaited round trip per message."""

    def __init__(self, settings: ServiceSettings, partitioner: Partitioner | None = None) -> None:
        """``partitioner``: the client's ``DefaultPartitioner`` unless another is given; the
        same one places both strategies' messages."""
        self.settings = settings
        self.topics = Topics(settings.topic_namespace)
        self.partitioner: Partitioner = partitioner or DefaultPartitioner()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=settings.kafka_client_id or f"tns-{settings.service_name}",
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            linger_ms=settings.kafka_linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
            max_request_size=MAX_REQUEST_BYTES,
            partitioner=self.partitioner,
        )
        self.max_request_size = MAX_REQUEST_BYTES
        self.service = settings.service_name

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: Sequence[Event], acked: set[uuid.UUID] | None = None) -> None:
        """Batched per partition: send every event, then wait until the broker acknowledged
        all of them.

        With ``acked``, events whose ids are in it are not sent again and the ids of those
        acknowledged now are added, even when another send of the batch fails: a batch retried
        after a partial failure republishes only what the broker does not hold yet.
        """
        publication = Publication(self, acked)
        await publication.send(events)
        await publication.wait()

    async def send_record(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[object]:
        """One record at a time: queue one record; returns the future of its acknowledgement
        (not counted in ``MESSAGES_PRODUCED``: ``publish_records`` counts what it sends)."""
        future: asyncio.Future[object] = await self._producer.send(
            topic, value, key=key, headers=headers
        )
        return future

    async def publish_records(self, records: Sequence[OutgoingRecord]) -> None:
        """One record at a time: queue every record, then wait until the broker acknowledged
        all of them; raises the first failure."""
        if not records:
            return
        send = self._producer.send
        futures = [await send(r.topic, r.value, key=r.key) for r in records]
        await asyncio.gather(*futures)
        counts: dict[str, int] = {}
        for r in records:
            counts[r.topic] = counts.get(r.topic, 0) + 1
        for topic, n in counts.items():
            MESSAGES_PRODUCED.labels(self.service, topic).inc(n)

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request."""
        try:
            async with asyncio.timeout(timeout):
                await self._producer.client.fetch_all_metadata()
        except Exception:
            return False
        return True


class _RecordBatch(Protocol):
    """What ``AIOKafkaProducer.create_batch`` returns: ``append`` is None when it is full."""

    def append(
        self, *, timestamp: int | None, key: bytes | None, value: bytes | None
    ) -> object | None: ...


# Events serialised and queued between two chances for other tasks to run.
YIELD_EVERY = 100


class Publication:
    """Batched per partition: events handed to the producer now (``send``), their
    acknowledgements awaited later (``wait``).

    Lets a handler put a batch's events on their way before it writes its rows, so the broker
    and the database work at the same time; ``wait`` still comes before the transaction commits.
    ``acked`` is as in ``EventProducer.publish``.

    Events are appended to one record batch per topic partition and each batch is handed to the
    producer whole: one future per batch rather than per message, which is most of the client's
    cost per message. The partition is the producer's partitioner's choice for the event's key,
    asked once per key and partition count in a ``send`` (a topic's partitions are numbered from
    0, so topics with as many partitions place a key alike).
    """

    def __init__(self, producer: EventProducer, acked: set[uuid.UUID] | None = None) -> None:
        self._producer = producer
        self._acked = acked
        self._pending: list[tuple[asyncio.Future[object], list[uuid.UUID]]] = []
        self._counts: dict[str, int] = {}
        self._error: BaseException | None = None

    async def send(self, events: Sequence[Event]) -> None:
        """Queue the events (those not acknowledged before); never waits for the broker."""
        acked = self._acked
        topics = self._producer.topics
        client = self._producer._producer
        partitioner = self._producer.partitioner
        limit = self._producer.max_request_size
        partitions: dict[str, list[int]] = {}
        placements: dict[tuple[bytes, int], int] = {}  # (key, partition count): partition
        open_batches: dict[tuple[str, int], tuple[_RecordBatch, list[uuid.UUID]]] = {}
        todo = [e for e in events if acked is None or e.event_id not in acked]
        try:
            for i, event in enumerate(todo):
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the batch's other tasks (its writes) go on
                topic, key, value = topics.for_event(event), event.key(), event.to_bytes()
                if len(key) + len(value) > limit:
                    raise MessageSizeTooLargeError(
                        f"{topic}: a message of {len(value)} bytes ({event.event_id}), over the "
                        f"{limit} bytes of one request"
                    )
                known = partitions.get(topic)
                if known is None:
                    known = partitions[topic] = sorted(await client.partitions_for(topic))
                placed = placements.get((key, len(known)))
                if placed is None:  # a batch's events come in runs about the same subject
                    placed = placements[(key, len(known))] = partitioner(key, known, known)
                slot = (topic, placed)
                batch = open_batches.get(slot)
                if batch is None:
                    batch = open_batches[slot] = (client.create_batch(), [])
                if batch[0].append(key=key, value=value, timestamp=None) is None:
                    await self._submit(slot, *open_batches.pop(slot))  # full: a new one
                    batch = open_batches[slot] = (client.create_batch(), [])
                    if batch[0].append(key=key, value=value, timestamp=None) is None:
                        raise MessageSizeTooLargeError(f"{topic}: a message no batch takes")
                batch[1].append(event.event_id)
        except Exception as exc:  # e.g. a message over the size limit: the rest still count
            self._error = self._error or exc
        for slot, (builder, queued) in open_batches.items():
            try:
                await self._submit(slot, builder, queued)
            except Exception as exc:
                self._error = self._error or exc

    async def _submit(
        self, slot: tuple[str, int], builder: _RecordBatch, queued: list[uuid.UUID]
    ) -> None:
        topic, partition = slot
        future = await self._producer._producer.send_batch(builder, topic, partition=partition)
        self._pending.append((future, queued))
        self._counts[topic] = self._counts.get(topic, 0) + len(queued)

    async def settle(self) -> list[BaseException]:
        """Until every send is answered; notes the acknowledged ids, returns the failures."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for (_, queued), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                continue
            if self._acked is not None:
                self._acked.update(queued)
        if self._error is not None:
            failures.append(self._error)
            self._error = None
        return failures

    async def wait(self) -> None:
        """Until the broker acknowledged every event sent; raises the first failure."""
        failures = await self.settle()
        if failures:
            raise failures[0]
        service = self._producer.service
        counts, self._counts = self._counts, {}
        for topic, n in counts.items():
            MESSAGES_PRODUCED.labels(service, topic).inc(n)
