"""Intake's notice rules over HTTP, against the real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.intake.app import create_app
from services.intake.models import api_keys
from services.intake.registry import add_authority, add_flagger
from services.intake.settings import IntakeSettings
from services.router.policy import deadline_for, load_policy, priority
from services.router.settings import DEFAULT_POLICY
from shared.apikeys import create_key
from shared.events import (
    DecisionMade,
    Event,
    ReportReceived,
    ReportRouted,
    RouteKind,
    Routing,
    Source,
    derive_id,
    utcnow,
)
from shared.kafka.topics import Topics
from shared.taxonomy import DsaCategory, PolicyArea, Tier
from tests.factories import make_classified, make_decision, make_report, report_body
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

Start = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def start(kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str) -> Start:
    def make(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = IntakeSettings(
            **{**service_env(kafka, postgres, namespace), "api_key_cache_seconds": 0, **overrides}
        )
        return running(create_app(settings))

    return make


async def new_key(db: AsyncEngine, scopes: tuple[str, ...] = ("reports:write", "reports:read")):
    client = f"client-{uuid.uuid4().hex[:8]}"
    key_id, key = await create_key(db, api_keys, client_id=client, scopes=list(scopes))
    return client, key_id, {"Authorization": f"Bearer {key}"}


def received(topic: TopicWatcher) -> list[ReportReceived]:
    return [ReportReceived.from_bytes(r.value) for r in topic.records]


async def test_anonymous_csam_notice_is_accepted_and_carries_no_identity(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    body = {
        "subject": {
            "subject_type": "content",
            "subject_id": f"img-{uuid.uuid4().hex[:8]}",
            "content_type": "image",
            "media": [{"media_type": "image", "sha256": "AB" * 32, "data_base64": "aGVsbG8="}],
        },
        "reason_code": "csam",
        "locations": ["https://photos.example.com/p/1"],
    }
    async with start() as intake:
        _, _, auth = await new_key(db)
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            r = await intake.post("/v1/reports", json=body, headers=auth)
            assert r.status_code == 202, r.text
            await t.wait_for(1)
        report = received(t)[0].payload
        assert report.anonymous is True and report.reporter_id is None
        assert report.policy_area is PolicyArea.CHILD_SAFETY
        assert report.dsa_category is DsaCategory.PROTECTION_OF_MINORS
        assert report.media[0].sha256 == "ab" * 32
        assert report.locations == ["https://photos.example.com/p/1"]
        got = (await intake.get(r.json()["status_url"], headers=auth)).json()
        assert got["status"] == "received" and got["policy_area"] == "child_safety"


async def test_notifier_name_and_email_never_leave_intake(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    body = report_body(
        "look at http://xn--pypal-4ve.com/login now",
        reporter={"reporter_id": "u-9", "name": "Ana Silva", "email": "ana@example.org"},
        good_faith=True,
        surface="group_chat",
    )
    async with start() as intake:
        _, _, auth = await new_key(db)
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            assert (await intake.post("/v1/reports", json=body, headers=auth)).status_code == 202
            await t.wait_for(1)
    raw = t.records[0].value
    assert b"Ana Silva" not in raw and b"ana@example.org" not in raw
    report = received(t)[0].payload
    assert report.anonymous is False and report.good_faith and report.surface == "group_chat"
    assert report.urls_flagged == report.urls and report.urls


async def test_unknown_reason_code_maps_to_not_specified_notice(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    body = report_body()
    del body["category"]
    body["reason_code"] = "SOMETHING_NEW_42"
    async with start() as intake:
        _, _, auth = await new_key(db)
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            assert (await intake.post("/v1/reports", json=body, headers=auth)).status_code == 202
            await t.wait_for(1)
    report = received(t)[0].payload
    assert report.dsa_category is DsaCategory.NOT_SPECIFIED_NOTICE
    assert report.policy_area is PolicyArea.OTHER
    assert report.reason_code == "SOMETHING_NEW_42"


async def test_bad_mapping_file_stops_the_service_naming_the_file(
    start: Start, tmp_path: Any
) -> None:
    (tmp_path / "acme.yaml").write_text(
        "version: 1\nclient_id: acme\ncodes:\n  X: {policy_area: nope}\n"
    )
    with pytest.raises(ValueError, match=r"acme\.yaml: codes\.X\.policy_area"):
        async with start(mappings_dir=tmp_path):
            pass


async def test_rate_limited_client_gets_429_with_retry_after(start: Start, db: AsyncEngine) -> None:
    async with start(rate_limit_per_second=0.2, rate_limit_burst=2) as intake:
        _, _, auth = await new_key(db)
        _, _, other = await new_key(db)
        codes = [
            (await intake.post("/v1/reports", json=report_body(), headers=auth)).status_code
            for _ in range(2)
        ]
        limited = await intake.post("/v1/reports", json=report_body(), headers=auth)
        assert codes == [202, 202]
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        # The bucket is per client: another client is not affected.
        r = await intake.post("/v1/reports", json=report_body(), headers=other)
        assert r.status_code == 202


async def test_batch_with_a_bad_item_accepts_the_others_and_keys_each_item(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    bad = report_body()
    del bad["subject"]["subject_id"]
    items = [
        {**report_body("first"), "item_key": "b-0"},
        {**bad, "item_key": "b-1"},
        {**report_body("third"), "item_key": "b-2"},
    ]
    async with start() as intake:
        _, _, auth = await new_key(db)
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            r = await intake.post("/v1/reports:batch", json={"reports": items}, headers=auth)
            assert r.status_code == 200, r.text
            result = r.json()
            assert (result["accepted"], result["rejected"]) == (2, 1)
            statuses = [(x["item_key"], x["status"]) for x in result["results"]]
            assert statuses == [("b-0", "received"), ("b-1", "rejected"), ("b-2", "received")]
            assert result["results"][1]["errors"][0]["field"] == "subject.subject_id"
            again = (
                await intake.post("/v1/reports:batch", json={"reports": items[:1]}, headers=auth)
            ).json()
            assert again["results"][0]["duplicate"] is True
            assert again["results"][0]["report_id"] == result["results"][0]["report_id"]
            await t.wait_for(2)
        assert len(t.records) == 2


async def test_trusted_flagger_is_marked_only_within_its_areas(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    async with start():  # applies the migrations
        pass
    client, _, auth = await new_key(db)
    await add_flagger(
        db,
        flagger_id=f"tf-{client}",
        name="Hate Watch e.V.",
        client_id=client,
        key_id=None,
        policy_areas=[PolicyArea.HATE_SPEECH],
    )
    async with start() as intake:
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            inside = await intake.post(
                "/v1/reports", json=report_body(category="hate_speech"), headers=auth
            )
            outside = await intake.post(
                "/v1/reports",
                json=report_body(category="spam", source="trusted_flagger"),
                headers=auth,
            )
            await t.wait_for(2)
        by_id = {str(e.payload.report_id): e.payload for e in received(t)}
        ins, outs = by_id[inside.json()["report_id"]], by_id[outside.json()["report_id"]]
        assert ins.source is Source.TRUSTED_FLAGGER and ins.trusted_flagger_id == f"tf-{client}"
        assert outs.source is Source.USER_NOTICE and outs.trusted_flagger_id is None
        got = (await intake.get(inside.json()["status_url"], headers=auth)).json()
        assert got["trusted_flagger"] is True


async def _produce(kafka: EmbeddedKafka, topics: Topics, events: list[Event]) -> None:
    for e in events:
        await produce_raw(kafka.bootstrap_servers, topics.for_event(e), [(e.key(), e.to_bytes())])


def _routed(report_id: uuid.UUID, subject_id: str, queue: str) -> ReportRouted:
    return ReportRouted(
        event_id=derive_id("routed", report_id),
        producer="test",
        correlation_id=report_id,
        payload=Routing(
            report_id=report_id,
            subject_id=subject_id,
            route=RouteKind.REVIEW,
            policy_area=PolicyArea.HARASSMENT,
            queue=queue,
            policy_version="test",
            routed_at=utcnow(),
        ),
    )


async def test_status_moves_forward_from_downstream_events_and_never_back(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    topics = Topics(namespace)
    async with start() as intake:
        _, _, auth = await new_key(db)
        accepted = (await intake.post("/v1/reports", json=report_body(), headers=auth)).json()
        url = accepted["status_url"]
        rid = uuid.UUID(accepted["report_id"])
        subject = (await intake.get(url, headers=auth)).json()["subject_id"]

        async def status_is(expected: str) -> dict[str, Any] | None:
            got = (await intake.get(url, headers=auth)).json()
            return got if got["status"] == expected else None

        report = make_report(report_id=rid, subject_id=subject)
        await _produce(kafka, topics, [make_classified(report)])
        await eventually(lambda: status_is("classified"))
        await _produce(kafka, topics, [_routed(rid, subject, "harassment")])
        in_review = await eventually(lambda: status_is("in_review"))
        assert in_review["queue"] == "harassment"
        decision = make_decision(subject_id=subject, report_id=uuid.uuid4())
        decision = decision.model_copy(
            update={"payload": decision.payload.model_copy(update={"report_ids": [rid]})}
        )
        await _produce(kafka, topics, [decision])
        decided = await eventually(lambda: status_is("decided"))
        assert decided["outcome"]["action"] == "remove_content"
        assert decided["outcome"]["automated"] is True
        assert "appeal" in decided["outcome"]["redress"]
        # A late classification (another topic, out of order) does not move it back.
        late = make_classified(report).model_copy(update={"event_id": uuid.uuid4()})
        marker = make_classified(make_report(subject_id=subject))
        await _produce(kafka, topics, [late, marker])
        await eventually(lambda: _processed(db, namespace, marker.event_id))
        assert (await intake.get(url, headers=auth)).json()["status"] == "decided"


async def _processed(db: AsyncEngine, namespace: str, event_id: uuid.UUID) -> bool:
    from sqlalchemy import select

    from services.intake.models import processed_events

    async with db.connect() as conn:
        row = await conn.execute(
            select(processed_events.c.event_id).where(processed_events.c.event_id == event_id)
        )
        return row.first() is not None


async def test_reporter_over_the_misuse_threshold_is_warned_then_held_and_counted(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    topics = Topics(namespace)
    reporter = {"reporter_id": f"u-{uuid.uuid4().hex[:8]}"}

    def unfounded(rid: uuid.UUID) -> DecisionMade:
        d = make_decision(report_id=rid, action=None)
        return d.model_copy(
            update={"payload": d.payload.model_copy(update={"manifestly_unfounded": True})}
        )

    async with start(misuse_min_unfounded=1, misuse_unfounded_share=0.5) as intake:
        _, _, auth = await new_key(db)

        async def post(**extra: Any) -> dict[str, Any]:
            r = await intake.post(
                "/v1/reports", json=report_body(reporter=reporter, **extra), headers=auth
            )
            assert r.status_code == 202, r.text
            return dict(r.json())

        first = await post()
        await _produce(kafka, topics, [unfounded(uuid.UUID(first["report_id"]))])

        async def warned() -> dict[str, Any] | None:
            summary = (await intake.get("/v1/misuse/summary", headers=auth)).json()
            return summary if summary["warnings"] == 1 else None

        await eventually(warned)
        second = await post()
        assert second["status"] == "received" and "manifestly unfounded" in second["notice"]
        await _produce(kafka, topics, [unfounded(uuid.UUID(second["report_id"]))])

        async def suspended() -> dict[str, Any] | None:
            summary = (await intake.get("/v1/misuse/summary", headers=auth)).json()
            return summary if summary["suspensions"] == 1 else None

        await eventually(suspended)
        async with TopicWatcher(kafka.bootstrap_servers, topics.reports_received) as t:
            held = await post()
            assert held["status"] == "held" and "not being processed" in held["notice"]
            csam = await post(category="child_safety")
            assert csam["status"] == "received"
            await t.wait_for(3)  # the two earlier reports and the child-safety one
        published = {str(e.payload.report_id) for e in received(t)}
        assert held["report_id"] not in published and csam["report_id"] in published
        got = (await intake.get(held["status_url"], headers=auth)).json()
        assert got["status"] == "held"
        summary = (await intake.get("/v1/misuse/summary", headers=auth)).json()
        assert summary["held_notices"] == 1 and summary["exempt_child_safety_notices"] == 1


async def test_text_postgres_cannot_store_is_422_with_the_field_path(
    start: Start, db: AsyncEngine
) -> None:
    async with start() as intake:
        _, _, auth = await new_key(db)
        body = report_body(locations=["ok", "bad\u0000"])
        r = await intake.post("/v1/reports", json=body, headers=auth)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "body.locations.1"


async def test_authority_order_is_granted_by_the_registry_and_only_then_gets_its_clock(
    start: Start, db: AsyncEngine, kafka: EmbeddedKafka, namespace: str
) -> None:
    async with start():  # applies the migrations
        pass
    authority, _, authority_auth = await new_key(db)
    await add_authority(
        db,
        authority_id=f"ircu-{authority}",
        name="Internet referral unit",
        client_id=authority,
        key_id=None,
    )
    _, _, other_auth = await new_key(db)
    order = report_body("join the attack on", category="violent_extremism")
    async with start() as intake:
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as t:
            registered = await intake.post(
                "/v1/reports", json={**order, "source": "authority_order"}, headers=authority_auth
            )
            claimed = await intake.post(
                "/v1/reports", json={**order, "source": "authority_order"}, headers=other_auth
            )
            await t.wait_for(2)
        assert registered.status_code == claimed.status_code == 202
        got = (await intake.get(claimed.json()["status_url"], headers=other_auth)).json()
    by_id = {str(e.payload.report_id): e.payload for e in received(t)}
    real, fake = by_id[registered.json()["report_id"]], by_id[claimed.json()["report_id"]]
    assert real.source is Source.AUTHORITY_ORDER
    assert fake.source is Source.USER_NOTICE and got["source"] == "user_notice"
    # The router's shipped policy on the events as intake published them.
    policy = load_policy(DEFAULT_POLICY)
    area = PolicyArea.VIOLENT_EXTREMISM
    real_deadline, real_clock = deadline_for(policy, real, area)
    fake_deadline, fake_clock = deadline_for(policy, fake, area)
    assert real_clock == "terrorist-content-removal-order"
    assert real_deadline == real.received_at + timedelta(hours=1)
    assert fake_clock is None and fake_deadline - fake.received_at == timedelta(hours=24)
    assert priority(Tier.S1, real.source, 0.5) > priority(Tier.S1, fake.source, 0.5)
