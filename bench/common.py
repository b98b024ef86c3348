"""Shared bench plumbing: an output counter, pre-production, timing helpers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.kafka.topics import ensure_topics

PARTITIONS = 3  # the services' default topic_partitions


def new_namespace(tag: str) -> str:
    return f"b{tag}{uuid.uuid4().hex[:8]}."


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> float:
    """Put raw (key, value) messages on a fresh topic; returns seconds taken."""
    started = time.monotonic()
    await ensure_topics(bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        async with asyncio.timeout(300):
            futures = [await producer.send(topic, v, key=k) for k, v in values]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


@dataclass
class Count:
    n: int = 0
    first_at: float | None = None
    last_at: float | None = None


class OutputCounter:
    """Counts records on a topic from the beginning, noting when the first and last arrived."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.count = Count()
        self._target: int | None = None
        self._done = asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OutputCounter:
        async with asyncio.timeout(30):
            await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50, max_records=5000)
            got = sum(len(rs) for rs in batch.values())
            if not got:
                continue
            now = time.monotonic()
            c = self.count
            if c.first_at is None:
                c.first_at = now
            c.n += got
            c.last_at = now
            if self._target is not None and c.n >= self._target:
                self._done.set()

    def reset(self) -> None:
        """Start counting afresh (e.g. after a warm-up)."""
        self.count = Count()
        self._target = None
        self._done.clear()

    async def wait_for(self, target: int, timeout: float) -> Count:
        self._target = target
        if self.count.n >= target:
            return self.count
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self.topic}: {self.count.n}/{target} records within {timeout:.0f}s"
            ) from None
        return self.count

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            # The counter is done; how its task ended does not change the measurement.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            async with asyncio.timeout(15):
                await self._consumer.stop()


@dataclass
class Timed:
    """One timed run: N messages, seconds from start to the last output."""

    n: int
    total_s: float
    startup_s: float  # from start until the first output record
    steady_s: float  # from first to last output record

    @property
    def rate(self) -> float:
        return self.n / self.total_s

    @property
    def steady_rate(self) -> float:
        return (self.n - 1) / self.steady_s if self.steady_s > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "total_s": round(self.total_s, 3),
            "startup_s": round(self.startup_s, 3),
            "steady_s": round(self.steady_s, 3),
            "rate_per_s": round(self.rate, 1),
            "steady_rate_per_s": round(self.steady_rate, 1),
        }


def timed(n: int, started: float, count: Count) -> Timed:
    assert count.first_at is not None and count.last_at is not None
    return Timed(
        n=n,
        total_s=count.last_at - started,
        startup_s=count.first_at - started,
        steady_s=count.last_at - count.first_at,
    )


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
