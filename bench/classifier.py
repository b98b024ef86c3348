"""Classifier throughput against a pass-through ConsumerLoop reading the same input."""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import PARTITIONS, OutputCounter, Timed, new_namespace, produce, timed
from services.classifier.app import create_app
from services.classifier.settings import ClassifierSettings
from shared.events import (
    Classification,
    ClassifiedReport,
    ReportClassified,
    ReportReceived,
    derive_id,
)
from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics, ensure_topics
from tests.factories import make_received
from tests.harness import running

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
]
WITH_URL = [
    "Here is the article I mentioned: https://news.example.com/2024/05/policy-update",
    "Docs are at https://docs.example.org/api/v2#auth if you need them",
    "this guy is an idiot, look at his post https://social.example.com/u/123/p/456",
]
MIXES = [(ABUSIVE, 0.3), (BENIGN, 0.35), (SPAM, 0.2), (WITH_URL, 0.15)]


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


def make_events(n: int) -> list[tuple[bytes, bytes]]:
    msgs = []
    for text in make_texts(n):
        e = make_received(text=text)
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


async def _time_classifier(
    env: dict[str, Any], msgs: list[tuple[bytes, bytes]]
) -> tuple[Timed, str]:
    bootstrap = env["kafka_bootstrap_servers"]
    ns = new_namespace("c")
    topics = Topics(ns)
    await produce(bootstrap, topics.reports_received, msgs)
    await ensure_topics(bootstrap, [topics.reports_classified], PARTITIONS)
    n = len(msgs)
    async with OutputCounter(bootstrap, topics.reports_classified) as out:
        started = time.monotonic()
        async with running(create_app(ClassifierSettings(**{**env, "topic_namespace": ns}))):
            count = await out.wait_for(n, timeout=max(60.0, n / 200))
    return timed(n, started, count), ns


async def _time_passthrough(env: dict[str, Any], input_topic: str, n: int) -> Timed:
    bootstrap = env["kafka_bootstrap_servers"]
    out_ns = new_namespace("p")
    settings = ClassifierSettings(
        **{**env, "topic_namespace": out_ns, "service_name": "passthrough"}
    )
    out_topic = Topics(out_ns).reports_classified
    await ensure_topics(bootstrap, [out_topic], PARTITIONS)
    async with OutputCounter(bootstrap, out_topic) as out:
        started = time.monotonic()
        # The same start-up work as Runtime.start for the classifier: topics, producer, consumer.
        await ensure_topics(
            bootstrap, [input_topic, out_topic, Topics(out_ns).dlq("passthrough")], PARTITIONS
        )
        producer = EventProducer(settings)
        await producer.start()
        loop: ConsumerLoop[ReportReceived] = ConsumerLoop(
            settings=settings,
            topics=[input_topic],
            event_type=ReportReceived,
            handler=PassThrough(),
            producer=producer,
        )
        try:
            await loop.start()
            count = await out.wait_for(n, timeout=max(60.0, n / 200))
        finally:
            await loop.stop()
            await producer.stop()
    return timed(n, started, count)


TARGET_RATE = 5_000.0
TARGET_RATIO = 0.5


async def run(env: dict[str, Any], n: int, warmup: int) -> list[dict[str, Any]]:
    # Warm-up (not counted): the same two runs on a few hundred messages of their own.
    w_msgs = make_events(warmup)
    _, w_ns = await _time_classifier(env, w_msgs)
    await _time_passthrough(env, Topics(w_ns).reports_received, warmup)

    msgs = make_events(n)
    clf, ns = await _time_classifier(env, msgs)
    from bench.common import rss_mib

    rss = rss_mib()
    ref = await _time_passthrough(env, Topics(ns).reports_received, n)
    ratio = clf.rate / ref.rate
    return [
        {
            "section": "classifier",
            "what": "classifier throughput (reports/s)",
            "value": round(clf.rate, 1),
            "target": f">= {TARGET_RATE:.0f}",
            "pass": clf.rate >= TARGET_RATE,
            "detail": clf.as_dict(),
        },
        {
            "section": "classifier",
            "what": "pass-through reference (reports/s)",
            "value": round(ref.rate, 1),
            "target": "(reference)",
            "pass": None,
            "detail": ref.as_dict(),
        },
        {
            "section": "classifier",
            "what": "ratio classifier / pass-through",
            "value": round(ratio, 3),
            "target": f">= {TARGET_RATIO}",
            "pass": ratio >= TARGET_RATIO,
        },
        {
            "section": "classifier",
            "what": "RSS after run, MiB (whole bench process)",
            "value": round(rss, 1),
            "target": "(info)",
            "pass": None,
        },
    ]
