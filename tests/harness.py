"""Run services in-process against the session broker and database, and watch topics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from fastapi import FastAPI

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from shared.kafka.topics import ensure_topics

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def service_env(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> dict[str, Any]:
    """Settings every service needs to run against the test components."""
    return {
        "kafka_bootstrap_servers": kafka.bootstrap_servers,
        "database_url": postgres.url,
        "topic_namespace": namespace,
        "consumer_poll_ms": 50,
        "log_json": False,
    }


def process_env(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> dict[str, str]:
    """Environment for a service run as a process (``python -m services.<name>``)."""
    return {
        **os.environ,
        "TNS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TNS_DATABASE_URL": postgres.url,
        "TNS_TOPIC_NAMESPACE": namespace,
        "TNS_CONSUMER_POLL_MS": "50",
        "TNS_LOG_JSON": "false",
    }


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "TNS_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (consumers included) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


class TopicWatcher:
    """Reads a topic from the beginning into a list, in the background.

    Each stored record appears once: without a group, aiokafka re-assigns the partitions (and
    reads them again from the earliest offset) when a metadata answer lists them differently,
    so records already seen at a ``(partition, offset)`` are skipped. A message the producer
    really sent twice has two offsets and is kept twice.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._seen: set[tuple[int, int]] = set()
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for recs in batch.values():
                for r in recs:
                    if (r.partition, r.offset) not in self._seen:
                        self._seen.add((r.partition, r.offset))
                        self.records.append(r)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._consumer.stop()

    async def wait_for(
        self, count: int, timeout: float = 20.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        async def probe() -> list[ConsumerRecord[bytes, bytes]] | None:
            return self.records if len(self.records) >= count else None

        return await eventually(probe, timeout=timeout)


async def produce_raw(bootstrap: str, topic: str, values: list[tuple[bytes, bytes | None]]) -> None:
    """Put raw ``(key, value)`` messages on a topic, creating it if needed."""
    await ensure_topics(bootstrap, [topic], 3)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
