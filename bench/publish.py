"""``python -m bench.publish``: the partitioner's CPU cost inside ``Publication.send``.

Publishes realistic batches on the embedded broker in this process, once with the client's own
partitioner (``aiokafka.partitioner.DefaultPartitioner``, which the producer uses) and once with
a word-by-word copy of Kafka's murmur2 (``struct`` reads the key's 32-bit words at once; the
producer carried it until the client's own replaced it). Both place every key on the same
partition; only their CPU differs. The two alternate, batch by batch, and each is reported by
the median CPU time of ``Publication.send`` per report or decision (``time.process_time``):
the partition is asked once per key in a send, so the figure includes what that cache saves.
The placement alone (the same cache, no broker) is timed too, by its fastest batch: it is the
difference without the noise of the rest of ``send``.

- classifier: batches of 2,000 ``ReportClassified`` (its ``consumer_batch_max``), subjects drawn
  as ``bench.classifier`` draws them (about two reports per subject over a run);
- enforcement: batches of 2,000 decisions (``bench.enforcement``'s batch), each one
  ``ActionIssued`` and two ``UserNotified`` about one subject of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import struct
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from bench.common import PARTITIONS, new_namespace
from devstack.embedded import EmbeddedKafka
from shared.config import ServiceSettings
from shared.events import ActionIssued, Event, UserNotified
from shared.kafka.producer import EventProducer, Partitioner, Publication
from shared.kafka.topics import Topics, ensure_topics
from tests.factories import make_classified, make_report

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"
BATCH = 2_000

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2_wordwise(data: bytes) -> int:
    """Kafka's murmur2, the key's 32-bit words read in one ``struct`` call."""
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


def wordwise_partitioner(key: bytes | None, all_partitions: list[int], _: list[int]) -> int:
    assert key is not None  # every event has a key
    return all_partitions[(murmur2_wordwise(key) & 0x7FFFFFFF) % len(all_partitions)]


def classifier_batches(rounds: int, seed: int = 7) -> list[list[Event]]:
    rng = random.Random(seed)
    n = rounds * BATCH
    return [
        [
            make_classified(make_report(subject_id=f"msg-{seed}-{rng.randrange(n // 2 + 1)}"))
            for _ in range(BATCH)
        ]
        for _ in range(rounds)
    ]


def enforcement_batches(rounds: int) -> list[list[Event]]:
    action = json.loads((GOLDEN / "ActionIssued.v1.json").read_text())
    notice = json.loads((GOLDEN / "UserNotified.v1.json").read_text())

    def about(sample: dict[str, Any], subject_id: str) -> dict[str, Any]:
        payload = sample["payload"]
        subject = {**payload["subject"], "subject_id": subject_id}
        return {**sample, "event_id": str(uuid.uuid4()), "payload": {**payload, "subject": subject}}

    batches: list[list[Event]] = []
    for _ in range(rounds):
        batch: list[Event] = []
        for _ in range(BATCH):
            subject_id = f"msg-{uuid.uuid4().hex[:8]}"
            batch.append(ActionIssued.model_validate(about(action, subject_id)))
            batch.extend(UserNotified.model_validate(about(notice, subject_id)) for _ in range(2))
        batches.append(batch)
    return batches


async def _send_cpu(producer: EventProducer, events: list[Event]) -> float:
    """CPU seconds of one ``Publication.send`` of the batch (its acks awaited after)."""
    publication = Publication(producer)
    started = time.process_time()
    await publication.send(events)
    cpu = time.process_time() - started
    await publication.wait()
    return cpu


def _placement_cpu(partitioner: Partitioner, keys: list[bytes]) -> float:
    """CPU seconds of placing a batch's keys as ``Publication.send`` does (one call per key)."""
    known = list(range(PARTITIONS))
    placements: dict[tuple[bytes, int], int] = {}
    started = time.process_time()
    for key in keys:
        if placements.get((key, len(known))) is None:
            placements[(key, len(known))] = partitioner(key, known, known)
    return time.process_time() - started


async def measure(bootstrap: str, rounds: int) -> list[dict[str, Any]]:
    namespace = new_namespace("pub")
    topics = Topics(namespace)
    await ensure_topics(
        bootstrap, [topics.reports_classified, topics.actions, topics.notifications], PARTITIONS
    )
    settings = ServiceSettings(
        service_name="bench-publish",
        kafka_bootstrap_servers=bootstrap,
        topic_namespace=namespace,
        kafka_linger_ms=2,
    )
    partitioners: dict[str, Partitioner] = {
        "client (DefaultPartitioner)": DefaultPartitioner(),
        "word-by-word copy": wordwise_partitioner,
    }
    producers = {name: EventProducer(settings, p) for name, p in partitioners.items()}
    for producer in producers.values():
        await producer.start()
    rows = []
    try:
        for what, batches in [
            ("classifier", classifier_batches(rounds)),
            ("enforcement", enforcement_batches(rounds)),
        ]:
            decisions = BATCH * rounds
            cpu: dict[str, list[float]] = {name: [] for name in producers}
            for producer in producers.values():  # warm-up: metadata, code paths
                await _send_cpu(producer, batches[0])
            for i, batch in enumerate(batches):
                order = list(producers.items())
                for name, producer in order if i % 2 == 0 else order[::-1]:
                    cpu[name].append(await _send_cpu(producer, batch))
            per = {name: statistics.median(v) / BATCH * 1e6 for name, v in cpu.items()}
            client, copy = per["client (DefaultPartitioner)"], per["word-by-word copy"]
            keys = [[e.key() for e in b] for b in batches]
            placing = {
                name: min(_placement_cpu(p, k) for k in keys) / BATCH * 1e6
                for name, p in partitioners.items()
            }
            rows.append(
                {
                    "section": what,
                    "batches": rounds,
                    "events_per_batch": len(batches[0]),
                    "distinct_keys_per_batch": round(
                        statistics.mean(len({e.key() for e in b}) for b in batches)
                    ),
                    "send_cpu_us_per_unit": {k: round(v, 2) for k, v in per.items()},
                    "difference_us_per_unit": round(client - copy, 2),
                    "placement_cpu_us_per_unit": {k: round(v, 2) for k, v in placing.items()},
                    "unit": "report" if what == "classifier" else "decision",
                    "decisions": decisions,
                }
            )
    finally:
        for producer in producers.values():
            await producer.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.publish")
    p.add_argument("--rounds", type=int, default=20, help="batches per section and partitioner")
    args = p.parse_args(argv)
    kafka = EmbeddedKafka()
    try:
        kafka.start()
        rows = asyncio.run(measure(kafka.bootstrap_servers, args.rounds))
    finally:
        kafka.stop()
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
