"""The event producer: sends a batch of events and awaits their acknowledgements together."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

from shared.config import ServiceSettings
from shared.events import Event
from shared.kafka.topics import Topics
from shared.metrics import MESSAGES_PRODUCED

# One produce request at most (the client's default); a larger event is refused, not split.
MAX_REQUEST_BYTES = 1024 * 1024


class EventProducer:
    """Publishes events keyed by subject; never one awaited round trip per message."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_namespace)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=settings.kafka_client_id or f"tns-{settings.service_name}",
            acks="all",
            enable_idempotence=settings.kafka_enable_idempotence,
            linger_ms=settings.kafka_linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
            max_request_size=MAX_REQUEST_BYTES,
        )
        self.max_request_size = MAX_REQUEST_BYTES
        self._service = settings.service_name

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, events: Sequence[Event], acked: set[uuid.UUID] | None = None) -> None:
        """Send every event, then wait until the broker acknowledged all of them.

        With ``acked``, events whose ids are in it are not sent again and the ids of those
        acknowledged now are added, even when another send of the batch fails: a batch retried
        after a partial failure republishes only what the broker does not hold yet.
        """
        publication = Publication(self, acked)
        await publication.send(events)
        await publication.wait()

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[object]:
        """Queue one raw message; returns the future of its acknowledgement."""
        future: asyncio.Future[object] = await self._producer.send(
            topic, value, key=key, headers=headers
        )
        return future

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request."""
        try:
            async with asyncio.timeout(timeout):
                await self._producer.client.fetch_all_metadata()
        except Exception:
            return False
        return True


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key, as the Java client and aiokafka's partitioner compute it.

    Reads the key's 32-bit words in one ``struct`` call instead of byte by byte: 1.5 against
    3.6 us for a 16-byte key, and a batch hashes each of its subjects once.
    """
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    for word in struct.unpack_from(f"<{words}I", data) if words else ():
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


# Events serialised and queued between two chances for other tasks to run.
YIELD_EVERY = 100


class Publication:
    """Events handed to the producer now, their acknowledgements awaited later (``wait``).

    Lets a handler put a batch's events on their way before it writes its rows, so the broker
    and the database work at the same time; ``wait`` still comes before the transaction commits.
    ``acked`` is as in ``EventProducer.publish``.

    Events are appended to one record batch per topic partition and each batch is handed to the
    producer whole: one future per batch rather than per message, which is most of the client's
    cost per message. Partitions are chosen as the producer's default partitioner does (murmur2
    of the key), so an event lands where a plain ``send`` would have put it.
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
        limit = self._producer.max_request_size
        partitions: dict[str, list[int]] = {}
        hashes: dict[bytes, int] = {}
        open_batches: dict[tuple[str, int], tuple[BatchBuilder, list[uuid.UUID]]] = {}
        todo = [e for e in events if acked is None or e.event_id not in acked]
        try:
            for i, event in enumerate(todo):
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the batch's other tasks (its writes) go on
                topic, key, value = topics.for_event(event), event.key(), event.to_bytes()
                known = partitions.get(topic)
                if known is None:
                    known = partitions[topic] = sorted(await client.partitions_for(topic))
                if len(key) + len(value) > limit:
                    raise MessageSizeTooLargeError(
                        f"{topic}: a message of {len(value)} bytes ({event.event_id}), over the "
                        f"{limit} bytes of one request"
                    )
                hashed = hashes.get(key)
                if hashed is None:  # a batch's events come in runs about the same subject
                    hashed = hashes[key] = murmur2(key) & 0x7FFFFFFF
                slot = (topic, known[hashed % len(known)])
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
        self, slot: tuple[str, int], builder: BatchBuilder, queued: list[uuid.UUID]
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
        service = self._producer._service
        counts, self._counts = self._counts, {}
        for topic, n in counts.items():
            MESSAGES_PRODUCED.labels(service, topic).inc(n)
