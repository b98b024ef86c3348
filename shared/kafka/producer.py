"""The event producer: sends a batch of events and awaits their acknowledgements together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from shared.config import ServiceSettings
from shared.events import Event
from shared.kafka.topics import Topics
from shared.metrics import MESSAGES_PRODUCED


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
            linger_ms=2,
            max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
        )
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
        if not events:
            return
        futures: list[asyncio.Future[object]] = []
        sent: list[Event] = []
        counts: dict[str, int] = {}
        error: BaseException | None = None
        try:
            for event in events:
                if acked is not None and event.event_id in acked:
                    continue
                topic = self.topics.for_event(event)
                futures.append(await self._producer.send(topic, event.to_bytes(), key=event.key()))
                sent.append(event)
                counts[topic] = counts.get(topic, 0) + 1
        except Exception as exc:  # e.g. a message over the size limit: the rest still count
            error = exc
        results = await asyncio.gather(*futures, return_exceptions=True)
        if acked is not None:
            acked.update(
                e.event_id
                for e, r in zip(sent, results, strict=True)
                if not isinstance(r, BaseException)
            )
        for r in results:
            if isinstance(r, BaseException):
                raise r
        if error is not None:
            raise error
        for topic, n in counts.items():
            MESSAGES_PRODUCED.labels(self._service, topic).inc(n)

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
