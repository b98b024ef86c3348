"""Enforcement end to end on the real broker and PostgreSQL: ladder, ledger, holds, appeals."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement.app import create_app
from services.enforcement.ladder import add_months
from services.enforcement.settings import EnforcementSettings
from services.enforcement.sor import SOR_SCHEMA_PATH
from shared.events import (
    Action,
    ActionConfirmed,
    ActionIssued,
    ActionStatus,
    ActionType,
    Actor,
    AppealLodged,
    AppealRef,
    Confirmation,
    ContentType,
    DecidedBy,
    Decision,
    DecisionMade,
    Outcome,
    Source,
    Subject,
    SubjectType,
    UserNotified,
    derive_id,
    utcnow,
)
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea, dsa_category
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env
from tests.integration.test_enforcement import CLIENT, auth

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

STATEMENT_SCHEMA = Draft202012Validator(json.loads(SOR_SCHEMA_PATH.read_text()))


def decision(
    *,
    owner: str | None = None,
    area: PolicyArea = PolicyArea.HARASSMENT,
    action: ActionType | None = ActionType.REMOVE_CONTENT,
    actor: Actor | None = None,
    appeal: AppealRef | None = None,
    decision_id: uuid.UUID | None = None,
    subject_id: str | None = None,
) -> DecisionMade:
    report_id = uuid.uuid4()
    decision_id = decision_id or derive_id("decision", report_id)
    actor = actor or Actor(kind="policy", actor_id="router:auto", versions={"policy": "p7"})
    return DecisionMade(
        event_id=derive_id("event", decision_id),
        producer="test",
        correlation_id=report_id,
        payload=Decision(
            decision_id=decision_id,
            report_id=report_id,
            subject=Subject(
                subject_type=SubjectType.CONTENT,
                subject_id=subject_id or f"post-{uuid.uuid4().hex[:8]}",
                content_type=ContentType.TEXT,
                owner_account_id=owner,
            ),
            policy_area=area,
            dsa_category=dsa_category(area),
            source=Source.USER_NOTICE,
            outcome=Outcome.ACTION if action else Outcome.NO_ACTION,
            action=action,
            decided_by=DecidedBy.HUMAN if actor.kind == "reviewer" else DecidedBy.AUTOMATED,
            actor=actor,
            reason="insulting replies to the reporter",
            score=0.97,
            decided_at=utcnow(),
            appeal=appeal,
            client_id=CLIENT,
        ),
    )


def settings(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, ns: str, **kw: Any
) -> EnforcementSettings:
    return EnforcementSettings(**service_env(kafka, postgres, ns), api_key_cache_seconds=0, **kw)


async def send(kafka: EmbeddedKafka, topic: str, *events: DecisionMade | ActionConfirmed) -> None:
    await produce_raw(kafka.bootstrap_servers, topic, [(e.key(), e.to_bytes()) for e in events])


def issued(watcher: TopicWatcher) -> list[ActionIssued]:
    return [ActionIssued.from_bytes(r.value) for r in watcher.records]


async def actions_of(api: httpx.AsyncClient, subject_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await api.get(f"/v1/subjects/{subject_id}/actions")).json()[
            "items"
        ]
        return items if len(items) >= count else None

    return await eventually(probe)


async def test_strikes_escalate_warn_restrict_suspend_and_statements_validate(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    account = f"acct-{uuid.uuid4().hex[:8]}"
    # Harassment weighs 1; the default ladder warns at 1, restricts (7 days) at 3, suspends
    # (30 days) at 5 active strikes.
    decisions = [decision(owner=account) for _ in range(5)]
    async with running(create_app(settings(kafka, postgres, namespace))) as api:
        api.headers.update(await auth(db))
        for d in decisions:  # one at a time, so each sees the strikes before it
            await send(kafka, topics.decisions, d)
            await actions_of(api, d.payload.subject.subject_id, 2)
        strikes = (await api.get(f"/v1/accounts/{account}/strikes")).json()
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT a.action, a.ends_at - a.issued_at AS length FROM enforcement.actions a "
                    "WHERE a.owner_account_id = :acct AND a.action <> 'remove_content' "
                    "ORDER BY a.issued_at"
                ),
                {"acct": account},
            )
        ).all()
        statements = (
            await conn.execute(
                text(
                    "SELECT s.puid, s.statement FROM enforcement.statements_of_reasons s "
                    "JOIN enforcement.actions a USING (action_id) WHERE a.owner_account_id = :acct"
                ),
                {"acct": account},
            )
        ).all()
    ladder = [(r.action, r.length) for r in rows]
    assert ladder == [
        ("warn_account", None),
        ("warn_account", None),
        ("restrict_account", timedelta(days=7)),
        ("restrict_account", timedelta(days=7)),
        ("suspend_account", timedelta(days=30)),
    ]
    assert strikes["active_weight"] == 5
    assert len(strikes["items"]) == 5
    # One statement per action (5 removals + 5 account actions), each valid and unique.
    assert len(statements) == 10
    assert len({s.puid for s in statements}) == 10
    for s in statements:
        errors = [e.message for e in STATEMENT_SCHEMA.iter_errors(s.statement)]
        assert errors == [], (s.puid, errors)
        assert account not in json.dumps(s.statement)  # no personal data
    kinds = {s.statement.get("decision_account") for s in statements}
    assert "DECISION_ACCOUNT_SUSPENDED" in kinds


async def test_child_safety_terminates_at_once_reports_and_holds_evidence_for_a_year(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    account = f"acct-{uuid.uuid4().hex[:8]}"
    d = decision(owner=account, area=PolicyArea.CHILD_SAFETY)
    async with running(create_app(settings(kafka, postgres, namespace))) as api:
        api.headers.update(await auth(db))
        await send(kafka, topics.decisions, d)
        items = await actions_of(api, d.payload.subject.subject_id, 2)
    assert sorted(a["action"] for a in items) == ["remove_content", "terminate_account"]
    async with db.connect() as conn:
        report = (
            await conn.execute(
                text(
                    "SELECT channel, status, due_at - created_at AS due, evidence_refs "
                    "FROM enforcement.legal_reports WHERE decision_id = :d"
                ),
                {"d": d.payload.decision_id},
            )
        ).one()
        held = (
            await conn.execute(
                text(
                    "SELECT evidence_id, hold_until - recorded_at AS hold "
                    "FROM enforcement.evidence "
                    "WHERE decision_id = :d"
                ),
                {"d": d.payload.decision_id},
            )
        ).one()
    assert (report.channel, report.status, report.due) == (
        "cybertipline",
        "pending",
        timedelta(hours=24),
    )
    assert f"subject:{d.payload.subject.subject_id}" in report.evidence_refs
    assert held.hold == timedelta(days=365)
    # Held evidence cannot be purged or its hold shortened, whoever asks the database.
    for sql in (
        "DELETE FROM enforcement.evidence WHERE evidence_id = :e",
        "UPDATE enforcement.evidence SET hold_until = now() WHERE evidence_id = :e",
    ):
        with pytest.raises(Exception, match="preservation hold"):
            async with db.begin() as conn:
                await conn.execute(text(sql), {"e": held.evidence_id})


async def test_unconfirmed_action_is_reissued_then_failed_and_counted(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    d = decision()
    quick = settings(
        kafka,
        postgres,
        namespace,
        action_confirm_timeout_s=0.2,
        action_max_reissues=2,
        ledger_sweep_interval_s=0.1,
    )
    async with running(create_app(quick)) as api:
        api.headers.update(await auth(db))
        async with TopicWatcher(kafka.bootstrap_servers, topics.actions) as out:
            await send(kafka, topics.decisions, d)
            (first,) = await actions_of(api, d.payload.subject.subject_id, 1)

            async def failed() -> dict[str, Any] | None:
                got: dict[str, Any] = (await api.get(f"/v1/actions/{first['action_id']}")).json()
                return got if got["status"] == "failed" else None

            final = await eventually(failed)
        trail = (
            await api.get("/v1/audit", params={"subject": d.payload.subject.subject_id})
        ).json()
        metrics = (await api.get("/metrics")).text
    sent = [e for e in issued(out) if str(e.payload.action_id) == first["action_id"]]
    assert len(sent) == 3  # issued once, re-issued twice
    assert len({e.event_id for e in sent}) == 3
    assert final["attempts"] == 3
    acts = [r["act"] for r in trail["items"]]
    assert acts == [
        "decision_recorded",
        "action_issued",
        "action_reissued",
        "action_reissued",
        "action_failed",
    ]
    assert (
        'tns_enforcement_actions_total{action="remove_content",service="enforcement",state="failed"}'
        in metrics
    )


async def test_confirmed_actions_are_applied_by_api_or_topic_and_not_reissued(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    by_api, by_topic = decision(), decision()
    quick = settings(
        kafka, postgres, namespace, action_confirm_timeout_s=1.0, ledger_sweep_interval_s=0.1
    )
    async with running(create_app(quick)) as api:
        reader = await auth(db, "actions:read")
        confirmer = await auth(db, "actions:confirm", client=CLIENT)
        api.headers.update(await auth(db, "actions:read", "audit:read"))
        await send(kafka, topics.decisions, by_api, by_topic)
        (a1,) = await actions_of(api, by_api.payload.subject.subject_id, 1)
        (a2,) = await actions_of(api, by_topic.payload.subject.subject_id, 1)
        url = f"/v1/actions/{a1['action_id']}/confirmations"
        body = {"status": "applied", "detail": "hidden from feed"}
        assert (await api.post(url, json=body, headers=reader)).status_code == 403
        assert (await api.post(url, json=body, headers={"Authorization": ""})).status_code == 401
        confirmed = await api.post(url, json=body, headers=confirmer)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "applied"
        again = await api.post(url, json={"status": "failed"}, headers=confirmer)
        assert again.json()["status"] == "applied"  # settled; a late retry changes nothing
        unknown = await api.post(
            f"/v1/actions/{uuid.uuid4()}/confirmations", json=body, headers=confirmer
        )
        assert unknown.status_code == 404
        confirmation = ActionConfirmed(
            event_id=uuid.uuid4(),
            producer=CLIENT,
            correlation_id=by_topic.payload.report_id,
            payload=Confirmation(
                action_id=a2["action_id"],
                subject_id=a2["subject_id"],
                status=ActionStatus.APPLIED,
                confirmed_at=utcnow(),
            ),
        )
        await send(kafka, topics.action_confirmations, confirmation)

        async def applied() -> dict[str, Any] | None:
            got: dict[str, Any] = (await api.get(f"/v1/actions/{a2['action_id']}")).json()
            return got if got["status"] == "applied" else None

        await eventually(applied)
        trail = (
            await api.get("/v1/audit", params={"subject": by_topic.payload.subject.subject_id})
        ).json()
        after = (await api.get(f"/v1/actions/{a1['action_id']}")).json()
    assert after["attempts"] == 1 and after["status"] == "applied"
    assert [r["act"] for r in trail["items"]][-1] == "action_applied"
    assert trail["items"][-1]["actor_id"] == CLIENT


async def test_upheld_appeal_reverses_the_actions_and_the_strike(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    account = f"acct-{uuid.uuid4().hex[:8]}"
    area = PolicyArea.CIVIC_INTEGRITY  # this test's own area, so the statistics are its own
    original = decision(
        owner=account, area=area, actor=Actor(kind="reviewer", actor_id="reviewer-ann")
    )
    subject = original.payload.subject.subject_id
    async with running(create_app(settings(kafka, postgres, namespace))) as api:
        api.headers.update(await auth(db, "actions:read", "audit:read", "stats:read"))
        lodger = await auth(db, "appeals:write", client=CLIENT)
        async with (
            TopicWatcher(kafka.bootstrap_servers, topics.actions) as out,
            TopicWatcher(kafka.bootstrap_servers, topics.appeals) as lodged,
            TopicWatcher(kafka.bootstrap_servers, topics.notifications) as notices,
        ):
            await send(kafka, topics.decisions, original)
            before = await actions_of(api, subject, 2)
            assert (await api.get(f"/v1/accounts/{account}/strikes")).json()["active_weight"] == 1
            body = {
                "decision_id": str(original.payload.decision_id),
                "appellant": "affected_user",
                "statement": "I was quoting the post to report it.",
            }
            assert (await api.post("/v1/appeals", json=body)).status_code == 403
            accepted = await api.post("/v1/appeals", json=body, headers=lodger)
            assert accepted.status_code == 201, accepted.text
            again = await api.post("/v1/appeals", json=body, headers=lodger)
            assert again.status_code == 409
            (record,) = await lodged.wait_for(1)
            appeal = AppealLodged.from_bytes(record.value).payload.appeal
            assert appeal.original_reviewer_id == "reviewer-ann"
            assert str(appeal.appeal_id) == accepted.json()["appeal_id"]
            # The router and a second reviewer decide the appeal: not a violation after all.
            verdict = decision(
                owner=account,
                area=area,
                action=None,
                actor=Actor(kind="reviewer", actor_id="reviewer-bo"),
                appeal=appeal,
                decision_id=derive_id("decision", appeal.appeal_id),
                subject_id=subject,
            )
            await send(kafka, topics.decisions, verdict)

            async def reversed_() -> list[dict[str, Any]] | None:
                items = await actions_of(api, subject, 2)
                return items if all(a["status"] == "reversed" for a in items) else None

            await eventually(reversed_)

            async def reversals_out() -> list[Action] | None:
                got = [e.payload for e in issued(out) if e.payload.reverses is not None]
                return got if len(got) >= 2 else None

            reversals = await eventually(reversals_out)
            await notices.wait_for(2)
        strikes = (await api.get(f"/v1/accounts/{account}/strikes")).json()
        trail = (await api.get("/v1/audit", params={"subject": subject})).json()["items"]
        stats = (await api.get("/v1/stats/appeals")).json()["items"]
    assert {r.reverses for r in reversals} == {uuid.UUID(a["action_id"]) for a in before}
    assert strikes["active_weight"] == 0
    assert strikes["items"][0]["reversed_at"] is not None
    acts = [r["act"] for r in trail]
    for act in ("appeal_lodged", "appeal_decided", "action_reversed", "strike_reversed"):
        assert act in acts
    decided = next(r for r in trail if r["act"] == "appeal_decided")
    assert decided["actor_id"] == "reviewer-bo"
    assert decided["details"]["result"] == "overturned"
    told = [UserNotified.from_bytes(r.value).payload for r in notices.records]
    first = next(
        n
        for n in told
        if n.decision_id == original.payload.decision_id and n.recipient == "affected_user"
    )
    assert first.recipient_ref == account
    assert first.appeal_until.date().isoformat() in first.redress
    assert any(
        n.recipient == "notifier" and n.recipient_ref == str(original.payload.report_id)
        for n in told
    )
    row = next(s for s in stats if s["policy_area"] == area.value)
    assert (row["appeals"], row["decided"], row["overturned"]) == (1, 1, 1)
    assert row["overturn_rate"] == 1.0
    assert row["median_decision_seconds"] is not None


async def test_appeal_after_six_months_is_refused_naming_the_window(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    old, dismissed = decision(), decision(action=None)
    async with running(create_app(settings(kafka, postgres, namespace))) as api:
        api.headers.update(await auth(db))
        await send(kafka, topics.decisions, old, dismissed)
        await actions_of(api, old.payload.subject.subject_id, 1)

        async def recorded() -> bool:
            async with db.connect() as conn:
                n = await conn.scalar(
                    text("SELECT count(*) FROM enforcement.decisions WHERE decision_id = :d"),
                    {"d": dismissed.payload.decision_id},
                )
            return bool(n == 1)

        await eventually(recorded)
        # The decision was communicated seven months ago.
        async with db.begin() as conn:
            communicated = await conn.scalar(
                text(
                    "UPDATE enforcement.decisions "
                    "SET communicated_at = now() - interval '7 months' "
                    "WHERE decision_id = :d RETURNING communicated_at"
                ),
                {"d": old.payload.decision_id},
            )
        late = await api.post(
            "/v1/appeals",
            json={"decision_id": str(old.payload.decision_id), "appellant": "affected_user"},
        )
        # A decision not to act can be appealed too, here by the notifier.
        dismissal = await api.post(
            "/v1/appeals",
            json={"decision_id": str(dismissed.payload.decision_id), "appellant": "notifier"},
        )
        unknown = await api.post(
            "/v1/appeals", json={"decision_id": str(uuid.uuid4()), "appellant": "notifier"}
        )
        bad = await api.post("/v1/appeals", json={"decision_id": "x", "appellant": "someone"})
    assert late.status_code == 422
    error = late.json()["error"]
    assert error["code"] == "appeal_window_closed"
    assert f"closed on {add_months(communicated, 6).isoformat()}" in error["message"]
    assert dismissal.status_code == 201, dismissal.text
    assert unknown.status_code == 404
    assert bad.status_code == 422
