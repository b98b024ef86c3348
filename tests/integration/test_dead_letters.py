"""A malformed message on each service's input topic lands on its dead-letter topic, with the
error in its headers, and the messages after it are still processed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.classifier.app import create_app as classifier_app
from services.classifier.settings import ClassifierSettings
from services.enforcement.app import create_app as enforcement_app
from services.enforcement.settings import EnforcementSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from shared.events import Event
from shared.kafka.topics import Topics
from tests.factories import make_classified, make_decision, make_received
from tests.harness import TopicWatcher, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CASES: dict[str, tuple[Callable[[dict[str, Any]], FastAPI], Callable[[], Event], str, str]] = {
    "classifier": (
        lambda env: classifier_app(ClassifierSettings(**env)),
        lambda: make_received(text="you stupid idiot"),
        "reports_received",
        "reports_classified",
    ),
    "router": (
        lambda env: router_app(RouterSettings(**env)),
        lambda: make_classified(),
        "reports_classified",
        "",  # review topic of the report's queue: checked below
    ),
    "enforcement": (
        lambda env: enforcement_app(EnforcementSettings(**env)),
        lambda: make_decision(),
        "decisions",
        "actions",
    ),
}


@pytest.mark.parametrize("service", list(CASES))
async def test_malformed_message_is_dead_lettered_and_the_next_one_processed(
    service: str, kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> None:
    make_app, make_event, in_attr, out_attr = CASES[service]
    topics = Topics(namespace)
    in_topic = getattr(topics, in_attr)
    out_topic = getattr(topics, out_attr) if out_attr else topics.review("harassment")
    good = make_event()
    async with running(make_app(service_env(kafka, postgres, namespace))):
        async with (
            TopicWatcher(kafka.bootstrap_servers, topics.dlq(service)) as dlq,
            TopicWatcher(kafka.bootstrap_servers, out_topic) as out,
        ):
            await produce_raw(
                kafka.bootstrap_servers,
                in_topic,
                [
                    (b"k", b"{not json"),
                    (b"k", b'{"event_type": "Nope"}'),
                    (good.key(), good.to_bytes()),
                ],
            )
            dead = await dlq.wait_for(2)
            produced = await out.wait_for(1)
    assert sorted(r.value for r in dead) == sorted([b"{not json", b'{"event_type": "Nope"}'])
    headers = dict(dead[0].headers)
    assert headers["tns-dlq-service"] == service.encode()
    assert headers["tns-dlq-topic"] == in_topic.encode()
    assert headers["tns-dlq-error"]
    assert any(str(good.correlation_id).encode() in r.value for r in produced)
