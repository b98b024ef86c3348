"""Enforcement against the real broker and PostgreSQL: idempotent actions, a verifiable audit."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement import handlers
from services.enforcement.app import create_app
from services.enforcement.models import api_keys
from services.enforcement.settings import EnforcementSettings
from shared.apikeys import create_key
from shared.events import ActionIssued, DecisionMade
from shared.kafka.topics import Topics
from tests import factories
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ALL_SCOPES = ["actions:read", "actions:confirm", "appeals:write", "audit:read", "stats:read"]
CLIENT = "product-client"


def make_decision(*, client: str | None = CLIENT, **kw: Any) -> DecisionMade:
    """A decision of ``client`` (the product client whose notice led to it)."""
    d = factories.make_decision(**kw)
    return d.model_copy(update={"payload": d.payload.model_copy(update={"client_id": client})})


async def auth(db: AsyncEngine, *scopes: str, client: str = CLIENT) -> dict[str, str]:
    """Headers with a fresh enforcement API key holding ``scopes`` (all of them by default)."""
    _, key = await create_key(db, api_keys, client_id=client, scopes=list(scopes or ALL_SCOPES))
    return {"Authorization": f"Bearer {key}"}


async def test_replayed_decision_produces_no_second_action(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    decision = make_decision()
    subject = decision.payload.subject.subject_id
    async with running(
        create_app(EnforcementSettings(**service_env(kafka, postgres, namespace)))
    ) as api:
        api.headers.update(await auth(db))
        async with TopicWatcher(kafka.bootstrap_servers, topics.actions) as actions:
            msg = (decision.key(), decision.to_bytes())

            # The tests share one database, so the ledger sweep of this app may re-issue
            # another test's overdue action on this topic: only this decision's count.
            def ours() -> list[ActionIssued]:
                got = (ActionIssued.from_bytes(r.value) for r in actions.records)
                return [e for e in got if e.payload.decision_id == decision.payload.decision_id]

            async def issued() -> list[ActionIssued] | None:
                return ours() or None

            await produce_raw(kafka.bootstrap_servers, topics.decisions, [msg, msg])
            await eventually(issued)
            # A second delivery later, after the first was committed.
            await produce_raw(kafka.bootstrap_servers, topics.decisions, [msg])

            async def audit_settled() -> list[object] | None:
                page = (await api.get("/v1/audit", params={"subject": subject})).json()
                return page["items"] if len(page["items"]) >= 2 else None

            records = await eventually(audit_settled)
            async with db.connect() as conn:
                processed = await conn.scalar(
                    text("SELECT count(*) FROM enforcement.processed_events WHERE event_id = :e"),
                    {"e": decision.event_id},
                )
            assert processed == 1
            await asyncio.sleep(0.5)  # time for a second action to show up, were there one
            published = ours()
        listed = (await api.get(f"/v1/subjects/{subject}/actions")).json()["items"]
    assert len(listed) == 1
    assert listed[0]["action"] == "remove_content"
    assert len(published) == 1
    assert [r["act"] for r in records] == ["decision_recorded", "action_issued"]


async def test_audit_log_refuses_updates_and_deletes(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    async with running(create_app(EnforcementSettings(**service_env(kafka, postgres, namespace)))):
        pass
    for sql in (
        "UPDATE enforcement.audit_log SET actor_id = 'x'",
        "DELETE FROM enforcement.audit_log",
        "TRUNCATE enforcement.audit_log",
    ):
        with pytest.raises(Exception, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(sql))


async def test_verify_names_the_row_edited_behind_the_services_back(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    decisions = [make_decision() for _ in range(5)]
    env = service_env(kafka, postgres, namespace)
    async with running(create_app(EnforcementSettings(**env))) as api:
        api.headers.update(await auth(db, "audit:read", "enforcement:read_all"))
        async with TopicWatcher(kafka.bootstrap_servers, topics.actions) as actions:
            await produce_raw(
                kafka.bootstrap_servers,
                topics.decisions,
                [(d.key(), d.to_bytes()) for d in decisions],
            )
            await actions.wait_for(5)
        assert (await api.get("/v1/audit/verify")).json()["ok"] is True
        target = decisions[2].payload.subject.subject_id
        page = (await api.get("/v1/audit", params={"subject": target})).json()
        seq = page["items"][0]["seq"]
        # A superuser can switch triggers off; the hash chain still gives the edit away.
        postgres.psql(
            "SET session_replication_role = replica;"
            f"UPDATE enforcement.audit_log SET details = jsonb_set(details, '{{outcome}}', "
            f"'\"no_action\"') WHERE seq = {seq};"
        )
        verdict = (await api.get("/v1/audit/verify")).json()
        try:
            assert verdict["ok"] is False
            assert verdict["first_broken_seq"] == seq
            cli = subprocess.run(
                [sys.executable, "-m", "services.enforcement", "verify"],
                env={**os.environ, "TNS_DATABASE_URL": postgres.url, "TNS_LOG_JSON": "false"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert cli.returncode == 1
            assert f"broken at record {seq}" in cli.stderr
        finally:
            # Put the row back so the shared chain stays valid for the other tests.
            postgres.psql(
                "SET session_replication_role = replica;"
                f"UPDATE enforcement.audit_log SET details = jsonb_set(details, '{{outcome}}', "
                f"'\"action\"') WHERE seq = {seq};"
            )
        assert (await api.get("/v1/audit/verify")).json()["ok"] is True


async def test_checkpoints_are_stored_and_exported_by_command_and_api(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    env = service_env(kafka, postgres, namespace)
    async with running(create_app(EnforcementSettings(**env))) as api:
        api.headers.update(await auth(db, "audit:read", "actions:read", "enforcement:read_all"))
        d = make_decision()
        await produce_raw(kafka.bootstrap_servers, topics.decisions, [(d.key(), d.to_bytes())])

        async def issued() -> list[object] | None:
            got = await api.get(f"/v1/subjects/{d.payload.subject.subject_id}/actions")
            items: list[object] = got.json()["items"]
            return items or None

        await eventually(issued)
        cli = subprocess.run(
            [sys.executable, "-m", "services.enforcement", "checkpoint"],
            env={**os.environ, "TNS_DATABASE_URL": postgres.url, "TNS_LOG_JSON": "false"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        exported = [json.loads(line) for line in cli.stdout.splitlines() if line.startswith("{")]
        listed = (await api.get("/v1/audit/checkpoints")).json()["items"]
        verdict = (await api.get("/v1/audit/verify")).json()
    assert exported and exported[-1]["head_seq"] >= 2
    assert exported[-1]["head_hash"] == next(
        c["head_hash"] for c in listed if c["head_seq"] == exported[-1]["head_seq"]
    )
    assert verdict["ok"] is True
    assert verdict["head_seq"] >= exported[-1]["head_seq"]


async def test_a_batch_written_slice_by_slice_keeps_every_row_and_an_intact_chain(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    db: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slices of three: a batch of these decisions is written in several passes while planned
    # (the first pass begins once the decisions' own COPY is back, long before the last slice).
    monkeypatch.setattr(handlers, "PLAN_SLICE", 3)
    N = 300
    topics = Topics(namespace)
    decisions = [make_decision() for _ in range(N)]
    ids = [d.payload.decision_id for d in decisions]
    # Produced before the app starts, so its first fetch holds many of them in one batch.
    await produce_raw(
        kafka.bootstrap_servers, topics.decisions, [(d.key(), d.to_bytes()) for d in decisions]
    )
    async with running(
        create_app(EnforcementSettings(**service_env(kafka, postgres, namespace)))
    ) as api:
        api.headers.update(await auth(db, "audit:read", "enforcement:read_all"))
        async with TopicWatcher(kafka.bootstrap_servers, topics.actions) as actions:
            await actions.wait_for(N)
        async with db.connect() as conn:
            counts = {
                table: await conn.scalar(
                    text(f"SELECT count(*) FROM enforcement.{table} WHERE decision_id = ANY(:ids)"),
                    {"ids": ids},
                )
                for table in ("actions", "statements_of_reasons", "evidence", "audit_log")
            }
        verdict = (await api.get("/v1/audit/verify")).json()
    assert counts == {
        "actions": N,
        "statements_of_reasons": N,
        "evidence": N,
        "audit_log": 2 * N,
    }
    assert verdict["ok"] is True


async def test_audit_time_range_is_refused_when_backwards_or_without_an_offset(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    async with running(
        create_app(EnforcementSettings(**service_env(kafka, postgres, namespace)))
    ) as api:
        api.headers.update(await auth(db, "audit:read"))
        backwards = await api.get(
            "/v1/audit",
            params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        naive = await api.get("/v1/audit", params={"since": "2026-02-01T00:00:00"})
        empty = await api.get(
            "/v1/audit",
            params={"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["code"] == "validation_error"
    assert backwards.json()["error"]["details"] == [
        {"field": "query.since", "message": "must not be after until", "type": "value_error"}
    ]
    assert naive.status_code == 422
    (detail,) = naive.json()["error"]["details"]
    assert detail["field"] == "query.since" and "with an offset" in detail["message"]
    assert empty.status_code == 200 and empty.json()["items"] == []
