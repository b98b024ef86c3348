"""Intake over HTTP against the real broker and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.intake.app import create_app
from services.intake.models import api_keys
from services.intake.settings import IntakeSettings
from shared.apikeys import create_key, revoke_key
from shared.events import ReportReceived
from shared.kafka.topics import Topics
from tests.factories import report_body
from tests.harness import TopicWatcher, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def intake(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings(
        **service_env(kafka, postgres, namespace), max_body_bytes=4096, api_key_cache_seconds=0
    )
    async with running(create_app(settings)) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def key(intake: httpx.AsyncClient, db: AsyncEngine) -> str:
    _, k = await create_key(
        db, api_keys, client_id="client-a", scopes=["reports:write", "reports:read"]
    )
    return k


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_accepted_report_is_on_the_topic_and_readable(
    intake: httpx.AsyncClient, key: str, kafka: EmbeddedKafka, namespace: str
) -> None:
    body = report_body("click hxxp://evil[.]com/login?utm_source=x now")
    async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as topic:
        r = await intake.post("/v1/reports", json=body, headers=auth(key))
        assert r.status_code == 202, r.text
        accepted = r.json()
        records = await topic.wait_for(1)
    event = ReportReceived.from_bytes(records[0].value)
    assert str(event.payload.report_id) == accepted["report_id"]
    assert records[0].key == body["subject"]["subject_id"].encode()
    assert event.payload.urls == ["http://evil.com/login"]
    got = await intake.get(accepted["status_url"], headers=auth(key))
    assert got.status_code == 200
    assert got.json()["status"] == "received"


async def test_duplicate_idempotency_key_returns_the_original_report_and_publishes_once(
    intake: httpx.AsyncClient, key: str, kafka: EmbeddedKafka, namespace: str
) -> None:
    body = report_body("spam spam")
    headers = {**auth(key), "Idempotency-Key": "retry-123"}
    async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as topic:
        first = (await intake.post("/v1/reports", json=body, headers=headers)).json()
        second = await intake.post("/v1/reports", json=body, headers=headers)
        await topic.wait_for(1)
        assert second.status_code == 202
        assert second.json()["report_id"] == first["report_id"]
        assert second.json()["duplicate"] is True
        third = (await intake.post("/v1/reports", json=body, headers=auth(key))).json()
        await topic.wait_for(2)
    ids = [ReportReceived.from_bytes(r.value).payload.report_id for r in topic.records]
    assert sorted(map(str, ids)) == sorted([first["report_id"], third["report_id"]])


async def test_reused_idempotency_key_with_another_notice_is_409_and_stores_nothing(
    intake: httpx.AsyncClient, key: str, kafka: EmbeddedKafka, namespace: str
) -> None:
    original = report_body("you are an idiot")
    other = report_body("a different notice entirely")
    headers = {**auth(key), "Idempotency-Key": f"reuse-{uuid.uuid4().hex}"}
    async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).reports_received) as topic:
        first = await intake.post("/v1/reports", json=original, headers=headers)
        assert first.status_code == 202, first.text
        # The same notice written differently (key order, spacing) is the same request.
        same = await intake.post(
            "/v1/reports",
            content=json.dumps(original, sort_keys=True, indent=2),
            headers={**headers, "Content-Type": "application/json"},
        )
        reused = await intake.post("/v1/reports", json=other, headers=headers)
        await topic.wait_for(1)
    assert same.status_code == 202 and same.json()["duplicate"] is True
    assert same.json()["report_id"] == first.json()["report_id"]
    assert reused.status_code == 409, reused.text
    error = reused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert first.json()["report_id"] in error["message"]
    published = [ReportReceived.from_bytes(r.value).payload for r in topic.records]
    assert [str(p.report_id) for p in published] == [first.json()["report_id"]]
    assert published[0].text == "you are an idiot"


async def test_reused_batch_item_key_with_another_notice_rejects_that_item_with_409(
    intake: httpx.AsyncClient, key: str
) -> None:
    item_key = f"batch-{uuid.uuid4().hex}"
    original = {**report_body("first notice"), "item_key": item_key}
    first = (
        await intake.post("/v1/reports:batch", json={"reports": [original]}, headers=auth(key))
    ).json()
    other = {**report_body("second notice"), "item_key": item_key}
    fresh = {**report_body("third notice"), "item_key": f"{item_key}-new"}
    r = await intake.post(
        "/v1/reports:batch", json={"reports": [other, fresh, original]}, headers=auth(key)
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["accepted"], result["rejected"]) == (2, 1)
    conflict, accepted, repeated = result["results"]
    assert (conflict["status"], conflict["http_status"]) == ("rejected", 409)
    assert conflict["report_id"] is None
    assert [(e["field"], e["type"]) for e in conflict["errors"]] == [
        ("item_key", "idempotency_key_reused")
    ]
    assert first["results"][0]["report_id"] in conflict["errors"][0]["message"]
    assert accepted["status"] == "received" and accepted["duplicate"] is False
    assert repeated["duplicate"] is True
    assert repeated["report_id"] == first["results"][0]["report_id"]


async def test_missing_unknown_or_revoked_key_is_401(
    intake: httpx.AsyncClient, db: AsyncEngine
) -> None:
    assert (await intake.post("/v1/reports", json=report_body())).status_code == 401
    bad = await intake.post("/v1/reports", json=report_body(), headers=auth("tns_nope"))
    assert bad.status_code == 401
    key_id, k = await create_key(db, api_keys, client_id="client-b", scopes=["reports:write"])
    assert (
        await intake.post("/v1/reports", json=report_body(), headers=auth(k))
    ).status_code == 202
    await revoke_key(db, api_keys, key_id)
    revoked = await intake.post("/v1/reports", json=report_body(), headers=auth(k))
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "unauthenticated"


async def test_key_without_the_scope_is_403(intake: httpx.AsyncClient, db: AsyncEngine) -> None:
    _, k = await create_key(db, api_keys, client_id="client-c", scopes=["reports:read"])
    r = await intake.post("/v1/reports", json=report_body(), headers=auth(k))
    assert r.status_code == 403


async def test_invalid_body_is_422_with_the_field_path(intake: httpx.AsyncClient, key: str) -> None:
    body = report_body()
    body["subject"]["subject_type"] = "planet"
    r = await intake.post("/v1/reports", json=body, headers=auth(key))
    assert r.status_code == 422
    fields = [d["field"] for d in r.json()["error"]["details"]]
    assert "body.subject.subject_type" in fields


async def test_body_over_the_limit_is_413(intake: httpx.AsyncClient, key: str) -> None:
    r = await intake.post("/v1/reports", json=report_body("x" * 10_000), headers=auth(key))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_reports_of_another_client_are_not_visible(
    intake: httpx.AsyncClient, key: str, db: AsyncEngine
) -> None:
    accepted = (await intake.post("/v1/reports", json=report_body(), headers=auth(key))).json()
    _, other = await create_key(db, api_keys, client_id="client-z", scopes=["reports:read"])
    r = await intake.get(accepted["status_url"], headers=auth(other))
    assert r.status_code == 404
