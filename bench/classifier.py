"""Classifier throughput against a pass-through consumer reading the same input, and its RSS.

Both run as their own processes (``python -m services.classifier serve`` and
``python -m bench.classifier passthrough``) on the same input topic, with their own consumer
groups. The input (warm-up + n reports) is on the topic before either starts; each is timed from
the moment its warm-up output is complete to the moment all n more are out, so start-up, model
loading and the consumer-group join are not counted. The classifier's resident memory is read
from ``/proc/<pid>/status`` of its process after the run.

The two are measured ``ROUNDS`` times, alternately, each round on fresh input, and each is
reported by its best round (see ``bench.common.ROUNDS``).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROUNDS, Timed, new_namespace, produce, timed_process
from services.classifier.app import MIGRATIONS
from services.classifier.models import SCHEMA, bank_hashes, hash_banks
from services.classifier.settings import ClassifierSettings
from shared.db import create_engine, migrate_async
from shared.events import (
    Classification,
    ClassifiedReport,
    ContentType,
    Media,
    ReportClassified,
    ReportReceived,
    derive_id,
)
from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics
from shared.service import freeze_startup_heap
from shared.taxonomy import PolicyArea
from tests.factories import make_received

ROOT = Path(__file__).resolve().parent.parent

ABUSIVE = [
    "you are a worthless idiot, just go die",
    "nobody likes you, kys loser",
    "I will find where you live and hurt you",
    "those people are vermin and parasites, all of them",
    "shut up you stupid piece of trash",
    "her home address is 12 Elm Street, go visit her, phone number is 555-0199",
]
BENIGN = [
    "Thanks for the recipe, the lasagne turned out great!",
    "Does anyone know when the next community meetup is?",
    "I disagree with the referee's call but it was a good match overall.",
    "Lovely photo of the lake, where was this taken?",
    "Can you share the slides from yesterday's talk?",
    "My cat knocked the plant over again this morning, send help",
]
SPAM = [
    "CLICK HERE to win a FREE iPhone!!! http://free-prizes.example.com/claim?id=8812",
    "Make $5000 a week from home, DM me now, limited spots https://bit.ly/3xYzAb",
    "Cheap followers and likes, best price guaranteed: www.buy-followers.example.net",
    "Crypto giveaway!!! send 0.1 BTC get 1 BTC back https://elon-giveaway.example.org",
    "Hot singles in your area >>> http://dating-now.example.biz <<<",
    "Your account will be suspended, verify your account at http://paypa1-login.com/verify",
]
WITH_URL = [
    "Here is the article I mentioned: https://news.example.com/2024/05/policy-update",
    "Docs are at https://docs.example.org/api/v2#auth if you need them",
    "this guy is an idiot, look at his post https://social.example.com/u/123/p/456",
]
MIXES = [(ABUSIVE, 0.3), (BENIGN, 0.35), (SPAM, 0.2), (WITH_URL, 0.15)]
# Share of reports carrying a client-computed PDQ hash, matched against a bank of BANK_SIZE.
MEDIA_SHARE = 0.05
BANK_SIZE = 1000
REPORTERS = 500


def make_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    pools = [p for p, _ in MIXES]
    weights = [w for _, w in MIXES]
    out = []
    for i in range(n):
        text = rng.choice(rng.choices(pools, weights)[0])
        # Vary the text a little so no two reports are byte-identical.
        out.append(f"{text} #{i}" if rng.random() < 0.5 else f"[{i}] {text}")
    return out


def make_events(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    msgs = []
    for text in make_texts(n, seed):
        media = []
        if rng.random() < MEDIA_SHARE:
            pdq = rng.getrandbits(256).to_bytes(32, "big").hex()
            media = [Media(media_type=ContentType.IMAGE, pdq=pdq)]
        e = make_received(
            text=text,
            reporter_id=f"reporter-{rng.randrange(REPORTERS)}",
            # Subjects of one seed only: a round's velocity queries do not see the reports of
            # the rounds before it.
            subject_id=f"msg-{seed}-{rng.randrange(n // 2 + 1)}",
            media=media,
        )
        msgs.append((e.key(), e.to_bytes()))
    return msgs


class PassThrough:
    """Re-wraps each ReportReceived as a ReportClassified with a fixed classification."""

    __name__ = "passthrough"

    async def __call__(
        self, events: list[ReportReceived], ctx: HandlerContext
    ) -> list[ReportClassified]:
        out = []
        for event in events:
            report = event.payload
            out.append(
                ReportClassified(
                    event_id=derive_id("classified", report.report_id),
                    producer="passthrough",
                    correlation_id=event.correlation_id,
                    causation_id=event.event_id,
                    payload=ClassifiedReport(
                        report=report,
                        classification=Classification(
                            scores={report.policy_area: 0.0},
                            top_policy_area=report.policy_area,
                            top_score=0.0,
                            signals=[],
                            versions={"passthrough": "0"},
                        ),
                    ),
                )
            )
        return out


async def _passthrough_main(input_topic: str) -> None:
    """The reference consumer process: same loop, same parsing and publishing, no signals,
    and the same collector settings as the services."""
    settings = ClassifierSettings(service_name="passthrough")
    producer = EventProducer(settings)
    await producer.start()
    freeze_startup_heap()
    loop: ConsumerLoop[ReportReceived] = ConsumerLoop(
        settings=settings,
        topics=[input_topic],
        event_type=ReportReceived,
        handler=PassThrough(),
        producer=producer,
    )
    await loop.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await loop.stop()
        await producer.stop()


async def _seed_bank(env: dict[str, Any]) -> None:
    """A bank of random PDQ hashes, so the hash signal does its real work."""
    await migrate_async(MIGRATIONS, env["database_url"], SCHEMA)
    engine = create_engine(ClassifierSettings(**env))
    name = f"bench-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(3)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                hash_banks.insert().values(
                    name=name, source="bench", policy_area=PolicyArea.VIOLENT_EXTREMISM.value
                )
            )
            await conn.execute(
                bank_hashes.insert(),
                [
                    {"bank_name": name, "kind": "pdq", "value": rng.bytes(32).hex()}
                    for _ in range(BANK_SIZE)
                ],
            )
    finally:
        await engine.dispose()


TARGET_RATE = 5_000.0
TARGET_RATIO = 0.5
TARGET_RSS_MIB = 600.0
MIN_N = 50_000


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    warmup = max(warmup, 1)
    # The pass-through gets through 20,000 reports in about one second, too short a window to
    # time on a noisy machine: both are timed on at least MIN_N.
    n = max(n, MIN_N)
    bootstrap = env["kafka_bootstrap_servers"]
    await _seed_bank(env)
    clfs: list[Timed] = []
    refs: list[Timed] = []
    memory: dict[str, float] = {}
    for round_ in range(ROUNDS):
        ns = new_namespace("c")
        topics = Topics(ns)
        await produce(bootstrap, topics.reports_received, make_events(warmup + n, seed=7 + round_))
        clf, used = await timed_process(
            {**env, "topic_namespace": ns},
            ["services.classifier", "serve"],
            topics.reports_classified,
            warmup=warmup,
            n=n,
        )
        clfs.append(clf)
        memory = max(memory, used, key=lambda m: m.get("rss_mib", 0.0))
        out_ns = new_namespace("p")
        ref, _ = await timed_process(
            {**env, "topic_namespace": out_ns, "service_name": "passthrough"},
            ["bench.classifier", "passthrough", topics.reports_received],
            Topics(out_ns).reports_classified,
            warmup=warmup,
            n=n,
        )
        refs.append(ref)
    clf, ref = max(clfs, key=lambda t: t.rate), max(refs, key=lambda t: t.rate)
    ratio = clf.rate / ref.rate
    return [
        {
            "section": "classifier",
            "what": f"classifier throughput (reports/s, best of {ROUNDS})",
            "value": round(clf.rate, 1),
            "target": f">= {TARGET_RATE:.0f}",
            "pass": clf.rate >= TARGET_RATE,
            "detail": {
                **clf.as_dict(),
                "rounds_per_s": [round(t.rate, 1) for t in clfs],
                "rounds_cpu_us_per_message": [round(t.cpu_us_per_message, 1) for t in clfs],
            },
        },
        {
            "section": "classifier",
            "what": f"pass-through reference (reports/s, best of {ROUNDS})",
            "value": round(ref.rate, 1),
            "target": "(reference)",
            "pass": None,
            "detail": {
                **ref.as_dict(),
                "rounds_per_s": [round(t.rate, 1) for t in refs],
                "rounds_cpu_us_per_message": [round(t.cpu_us_per_message, 1) for t in refs],
            },
        },
        {
            "section": "classifier",
            "what": "ratio classifier / pass-through (of the best rounds)",
            "value": round(ratio, 3),
            "target": f">= {TARGET_RATIO}",
            "pass": ratio >= TARGET_RATIO,
            "rounds": [round(c.rate / r.rate, 3) for c, r in zip(clfs, refs, strict=True)],
        },
        {
            "section": "classifier",
            "what": "classifier RSS after the run, MiB (its processes together, highest round)",
            "value": round(memory.get("rss_mib", float("nan")), 1),
            "target": f"<= {TARGET_RSS_MIB:.0f}",
            "pass": memory.get("rss_mib", float("inf")) <= TARGET_RSS_MIB,
        },
        {
            "section": "classifier",
            "what": "classifier peak RSS, MiB (sum of its processes' peaks)",
            "value": round(memory.get("peak_rss_mib", float("nan")), 1),
            "target": "(info)",
            "pass": None,
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "passthrough":
        asyncio.run(_passthrough_main(sys.argv[2]))
    else:
        sys.stderr.write("usage: python -m bench.classifier passthrough INPUT_TOPIC\n")
        sys.exit(2)
