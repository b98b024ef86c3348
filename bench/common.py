"""Shared bench plumbing: pre-production, a service timed as its own process, output marks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.embedded import free_port
from shared.kafka.topics import ensure_topics

ROOT = Path(__file__).resolve().parent.parent

PARTITIONS = 3  # the services' default topic_partitions


# A service and its reference are measured this many times, alternately, and each is reported
# by its best round: on a shared machine noise only ever slows a run down, and alternating
# keeps a slow spell from landing on one side only. Every round's rate is in the results.
ROUNDS = 3


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
class Timed:
    """One timed run: N messages, seconds from start to the last output."""

    n: int
    total_s: float
    startup_s: float  # from start until the first output record
    steady_s: float  # from first to last output record
    # CPU time of the measured process over the timed window, per message: steadier than the
    # rates on a noisy machine, and what capacity planning needs.
    cpu_us_per_message: float = float("nan")

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
            "cpu_us_per_message": round(self.cpu_us_per_message, 1),
        }


class Marks:
    """Counts records on a topic and notes when the count first reaches each mark."""

    def __init__(self, bootstrap: str, topic: str, marks: list[int]) -> None:
        self.marks = {m: 0.0 for m in marks}
        self.n = 0
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> Marks:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50, max_records=5000)
            got = sum(len(rs) for rs in batch.values())
            if not got:
                continue
            self.n += got
            now = time.monotonic()
            for m, at in self.marks.items():
                if not at and self.n >= m:
                    self.marks[m] = now
            if all(self.marks.values()):
                self._done.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.n} records, marks {self.marks}") from None

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self._consumer.stop()


def _process_env(env: dict[str, Any], **extra: Any) -> dict[str, str]:
    values = {**env, **extra}
    out = {k: v for k, v in os.environ.items() if not k.startswith("TNS_")}
    out.update({f"TNS_{k.upper()}": str(v) for k, v in values.items()})
    return out


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                out += _family(int(child))
    return out


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def timed_process(
    env: dict[str, Any], args: list[str], out_topic: str, *, warmup: int, n: int
) -> tuple[Timed, dict[str, float]]:
    """Run ``python -m *args`` (a service, with ``env`` as its ``TNS_`` settings) on input that
    is already on its topic, and time it from the moment ``warmup`` records are on ``out_topic``
    to the moment ``warmup + n`` are: start-up, model loading and the consumer-group join are not
    counted. Returns the timing and the process's resident memory at the end of the run.
    """
    bootstrap = env["kafka_bootstrap_servers"]
    await ensure_topics(bootstrap, [out_topic], PARTITIONS)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        env=_process_env(env, http_port=free_port(), log_json=True),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    memory: dict[str, float] = {}
    cpu: list[tuple[float, float]] = []  # (monotonic time, CPU seconds of the process)
    sampler = asyncio.create_task(_sample_cpu(proc.pid, cpu))
    try:
        started = time.monotonic()
        async with Marks(bootstrap, out_topic, [warmup, warmup + n]) as marks:
            await marks.wait(timeout=max(180.0, n / 100))
            ready, end = marks.marks[warmup], marks.marks[warmup + n]
        # With any processes the service started: their memory is the service's too.
        family = _family(proc.pid)
        memory = {
            "rss_mib": sum(_status_kib(pid, "VmRSS") for pid in family) / 1024,
            "peak_rss_mib": sum(_status_kib(pid, "VmHWM") for pid in family) / 1024,
            "processes": len(family),
        }
    finally:
        sampler.cancel()
        await _stop(proc)
    used = _cpu_at(cpu, end) - _cpu_at(cpu, ready)
    return Timed(
        n=n,
        total_s=end - ready,
        startup_s=ready - started,
        steady_s=end - ready,
        cpu_us_per_message=used / n * 1e6,
    ), memory


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sample_cpu(pid: int, into: list[tuple[float, float]]) -> None:
    with contextlib.suppress(OSError):
        while True:
            into.append((time.monotonic(), _cpu_seconds(pid)))
            await asyncio.sleep(0.02)


def _cpu_at(samples: list[tuple[float, float]], at: float) -> float:
    """The process's CPU seconds at ``at``, from the last sample taken by then."""
    before = [c for t, c in samples if t <= at]
    return before[-1] if before else float("nan")
