"""The review API on the real broker and database: claims, leases, four-eyes, appeals, QA."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.router.app import create_app
from services.router.models import api_keys
from shared.apikeys import create_key
from shared.events import (
    ActionType,
    Appeal,
    AppealLodged,
    AppealRef,
    DecisionMade,
    Outcome,
    ReportClassified,
    Source,
    derive_id,
    utcnow,
)
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.harness import TopicWatcher, eventually, produce_raw, running
from tests.integration.test_router_routing import classified, produce, settings, write_policy

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

REMOVE = {"outcome": "action", "action": "remove_content", "reason": "insults a person"}


@dataclass
class Desk:
    """A running router with a unique tag (queue names, reviewer ids) and helpers."""

    api: httpx.AsyncClient
    db: AsyncEngine
    kafka: EmbeddedKafka
    namespace: str
    tag: str
    routes: TopicWatcher
    decisions: TopicWatcher

    def queue(self, name: str) -> str:
        return f"{name}-{self.tag}"

    async def reviewer(self, name: str, *scopes: str) -> dict[str, str]:
        _, key = await create_key(
            self.db, api_keys, client_id=f"{name}-{self.tag}", scopes=list(scopes)
        )
        return {"Authorization": f"Bearer {key}"}

    async def route(self, *events: ReportClassified) -> None:
        before = len(self.routes.records)
        await produce(self.kafka, self.namespace, list(events))
        await self.routes.wait_for(before + len(events))

    async def claim(self, queue: str, who: dict[str, str]) -> httpx.Response:
        return await self.api.post(f"/v1/queues/{queue}/claim", headers=who)

    async def claim_eventually(self, queue: str, who: dict[str, str]) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            r = await self.claim(queue, who)
            return r.json() if r.status_code == 200 else None

        return await eventually(probe)

    async def decide(
        self, case_id: str, who: dict[str, str], body: dict[str, Any]
    ) -> httpx.Response:
        return await self.api.post(f"/v1/cases/{case_id}/decision", json=body, headers=who)

    def published(self) -> list[DecisionMade]:
        return [DecisionMade.from_bytes(r.value) for r in self.decisions.records if r.value]


@asynccontextmanager
async def desk(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
    *,
    policy: dict[str, Any] | None = None,
    **extra: Any,
) -> AsyncIterator[Desk]:
    tag = uuid.uuid4().hex[:8]
    path = write_policy(tmp_path, tag, **(policy or {}))
    topics = Topics(namespace)
    app = create_app(settings(kafka, postgres, namespace, path, **extra))
    async with (
        running(app) as api,
        TopicWatcher(kafka.bootstrap_servers, topics.reports_routed) as routes,
        TopicWatcher(kafka.bootstrap_servers, topics.decisions) as decisions,
    ):
        yield Desk(api, db, kafka, namespace, tag, routes, decisions)


async def test_trusted_flagger_notice_is_claimed_before_an_older_ordinary_one(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        older = classified(PolicyArea.HARASSMENT, 0.6)
        await d.route(older)
        flagged = classified(PolicyArea.HARASSMENT, 0.6, source=Source.TRUSTED_FLAGGER)
        await d.route(flagged)
        alice = await d.reviewer("alice", f"review:{d.queue('harassment')}")
        first = (await d.claim(d.queue("harassment"), alice)).json()
        second = (await d.claim(d.queue("harassment"), alice)).json()
        empty = await d.claim(d.queue("harassment"), alice)
    assert first["report_ids"] == [str(flagged.payload.report.report_id)]
    assert second["report_ids"] == [str(older.payload.report.report_id)]
    assert first["deadline"] < second["deadline"]
    assert first["task"]["report"]["source"] == "trusted_flagger"
    assert empty.status_code == 204


async def test_an_expired_lease_returns_the_case_to_the_queue(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db, lease_seconds=1.0) as d:
        await d.route(classified(PolicyArea.HARASSMENT, 0.6))
        queue = d.queue("harassment")
        alice = await d.reviewer("alice", f"review:{queue}")
        bob = await d.reviewer("bob", "review:*")
        held = (await d.claim(queue, alice)).json()
        while_held = await d.claim(queue, bob)
        reclaimed = await d.claim_eventually(queue, bob)
        late = await d.decide(held["case_id"], alice, REMOVE)
        by_bob = await d.decide(held["case_id"], bob, REMOVE)
    assert while_held.status_code == 204
    assert reclaimed["case_id"] == held["case_id"]
    assert reclaimed["lease_holder"] == f"bob-{d.tag}"
    assert (late.status_code, late.json()["error"]["code"]) == (409, "not_held")
    assert by_bob.status_code == 200


async def test_a_termination_needs_a_second_reviewer(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        report = classified(PolicyArea.HARASSMENT, 0.6)
        await d.route(report)
        queue = d.queue("harassment")
        alice = await d.reviewer("alice", f"review:{queue}")
        bob = await d.reviewer("bob", f"review:{queue}")
        case = (await d.claim(queue, alice)).json()
        terminate = {"outcome": "action", "action": "terminate_account", "reason": "repeat abuse"}
        proposed = await d.decide(case["case_id"], alice, terminate)
        self_confirm = await d.api.post(f"/v1/cases/{case['case_id']}/confirmation", headers=alice)
        alice_again = await d.claim(queue, alice)
        for_bob = (await d.claim(queue, bob)).json()
        confirmed = await d.api.post(f"/v1/cases/{case['case_id']}/confirmation", headers=bob)
        await d.decisions.wait_for(1)
    assert proposed.json()["status"] == "awaiting_confirmation"
    assert (self_confirm.status_code, self_confirm.json()["error"]["code"]) == (403, "four_eyes")
    assert alice_again.status_code == 204, "the proposer cannot take the confirmation"
    assert for_bob["proposal"]["action"] == "terminate_account"
    assert for_bob["proposed_by"] == f"alice-{d.tag}"
    assert confirmed.json()["status"] == "decided"
    [decision] = [e.payload for e in d.published()]
    assert decision.action is ActionType.TERMINATE_ACCOUNT
    assert decision.decided_by.value == "human"
    assert (decision.actor.kind, decision.actor.actor_id) == ("reviewer", f"alice-{d.tag}")
    assert decision.confirmed_by == f"bob-{d.tag}"
    assert str(decision.case_id) == case["case_id"]
    assert decision.report_ids == [report.payload.report.report_id]


async def test_reviewer_without_the_queue_scope_is_refused(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        await d.route(classified(PolicyArea.HARASSMENT, 0.6))
        queue = d.queue("harassment")
        outsider = await d.reviewer("outsider", f"review:{d.queue('spam')}")
        insider = await d.reviewer("insider", f"review:{queue}")
        refused = await d.claim(queue, outsider)
        anonymous = await d.api.post(f"/v1/queues/{queue}/claim")
        case = (await d.claim(queue, insider)).json()
        read = await d.api.get(f"/v1/cases/{case['case_id']}", headers=outsider)
        decided = await d.decide(case["case_id"], outsider, REMOVE)
    assert refused.status_code == 403
    assert anonymous.status_code == 401
    assert read.status_code == 403
    assert decided.status_code == 403


async def test_deciding_a_case_not_held_is_refused_and_a_retry_is_idempotent(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        report = classified(PolicyArea.HARASSMENT, 0.6)
        await d.route(report)
        queue = d.queue("harassment")
        alice = await d.reviewer("alice", f"review:{queue}")
        bob = await d.reviewer("bob", f"review:{queue}")
        case = (await d.claim(queue, alice)).json()
        by_bob = await d.decide(case["case_id"], bob, REMOVE)
        note_by_bob = await d.api.post(
            f"/v1/cases/{case['case_id']}/notes", json={"note": "x"}, headers=bob
        )
        note = await d.api.post(
            f"/v1/cases/{case['case_id']}/notes", json={"note": "checked context"}, headers=alice
        )
        bad = await d.decide(case["case_id"], alice, {"outcome": "action", "reason": "r"})
        first = await d.decide(case["case_id"], alice, REMOVE)
        retry = await d.decide(case["case_id"], alice, REMOVE)
        after = await d.decide(case["case_id"], bob, REMOVE)
        await d.decisions.wait_for(1)
    assert (by_bob.status_code, by_bob.json()["error"]["code"]) == (409, "not_held")
    assert note_by_bob.status_code == 409
    assert note.status_code == 204
    assert bad.status_code == 422
    assert first.status_code == 200 and first.json()["status"] == "decided"
    assert retry.json()["decision_id"] == first.json()["decision_id"]
    assert after.status_code == 409
    [decision] = d.published()
    assert str(decision.payload.decision_id) == first.json()["decision_id"]
    assert decision.payload.actor.actor_id == f"alice-{d.tag}"


async def test_an_appeal_is_not_decidable_by_the_original_reviewer(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        report = classified(PolicyArea.HARASSMENT, 0.6)
        await d.route(report)
        queue, appeals = d.queue("harassment"), d.queue("appeals")
        alice = await d.reviewer("alice", "review:*")
        bob = await d.reviewer("bob", f"review:{appeals}")
        case = (await d.claim(queue, alice)).json()
        original = (await d.decide(case["case_id"], alice, REMOVE)).json()
        ref = AppealRef(
            appeal_id=uuid.uuid4(),
            decision_id=uuid.UUID(original["decision_id"]),
            appellant="affected_user",
            statement="it was a joke between friends",
            original_reviewer_id=f"alice-{d.tag}",
            original_outcome=Outcome.ACTION,
            original_action=ActionType.REMOVE_CONTENT,
        )
        r = report.payload.report
        lodged = AppealLodged(
            producer="test",
            correlation_id=r.report_id,
            payload=Appeal(
                appeal=ref,
                report_id=r.report_id,
                subject=r.subject,
                policy_area=PolicyArea.HARASSMENT,
                lodged_at=utcnow(),
            ),
        )
        await produce_raw(
            kafka.bootstrap_servers, Topics(namespace).appeals, [(lodged.key(), lodged.to_bytes())]
        )
        appeal_case = await d.claim_eventually(appeals, bob)
        by_alice = await d.decide(
            appeal_case["case_id"], alice, {"outcome": "no_action", "reason": "x"}
        )
        alice_claim = await d.claim(appeals, alice)
        overturned = await d.decide(
            appeal_case["case_id"], bob, {"outcome": "no_action", "reason": "context: banter"}
        )
        await d.decisions.wait_for(2)
    assert appeal_case["appeal"]["appeal_id"] == str(ref.appeal_id)
    assert appeal_case["task"]["report"]["report_id"] == str(r.report_id)
    assert (by_alice.status_code, by_alice.json()["error"]["code"]) == (403, "excluded")
    assert alice_claim.status_code == 204
    assert overturned.status_code == 200
    final = d.published()[-1].payload
    assert final.decision_id == derive_id("decision", ref.appeal_id)
    assert final.appeal == ref
    assert final.outcome is Outcome.NO_ACTION
    assert final.actor.actor_id == f"bob-{d.tag}"


async def test_qa_sample_is_rereviewed_by_someone_else_and_agreement_recorded(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    policy = {"qa": {"human_share": 1.0, "automated_share": 0.0}}
    async with desk(kafka, postgres, namespace, tmp_path, db, policy=policy) as d:
        await d.route(classified(PolicyArea.HARASSMENT, 0.6))
        queue, qa = d.queue("harassment"), d.queue("qa")
        alice = await d.reviewer("alice", "review:*")
        auditor = await d.reviewer("auditor", f"review:{qa}")
        ops = await d.reviewer("ops", "ops:read")
        case = (await d.claim(queue, alice)).json()
        await d.decide(case["case_id"], alice, REMOVE)
        alice_qa = await d.claim(qa, alice)
        sample = (await d.claim(qa, auditor)).json()
        recorded = await d.decide(
            sample["case_id"], auditor, {"outcome": "no_action", "reason": "not abusive"}
        )
        by_reviewer = (await d.api.get("/v1/qa/agreement?by=reviewer", headers=ops)).json()
        by_rule = await d.api.get("/v1/qa/agreement?by=rule", headers=ops)
        refused = await d.api.get("/v1/qa/agreement", headers=alice)
        await d.decisions.wait_for(1)
    assert alice_qa.status_code == 204, "the original reviewer never re-reviews their own case"
    assert sample["kind"] == "qa"
    assert sample["qa_of"]["actor"] == f"alice-{d.tag}"
    assert recorded.json()["status"] == "recorded"
    [mine] = [row for row in by_reviewer if row["key"] == f"alice-{d.tag}"]
    assert (mine["reviewed"], mine["agreed"], mine["agreement"]) == (1, 0, 0.0)
    assert any(row["key"] == "harassment" for row in by_rule.json())
    assert refused.status_code == 403
    assert len(d.published()) == 1, "a QA re-review publishes no decision"


def _metric(text: str, name: str, queue: str) -> float | None:
    m = re.search(rf'^{name}\{{queue="{re.escape(queue)}"\}} (\S+)$', text, re.MULTILINE)
    return float(m.group(1)) if m else None


async def test_prometheus_shows_depth_age_breaches_and_time_to_first_decision(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(
        kafka, postgres, namespace, tmp_path, db, queue_metrics_interval_seconds=0.1
    ) as d:
        queue = d.queue("harassment")
        overdue = classified(PolicyArea.HARASSMENT, 0.6, received_at=utcnow() - timedelta(days=3))
        await d.route(overdue, classified(PolicyArea.HARASSMENT, 0.6))

        async def gauges(depth: float) -> str | None:
            text = (await d.api.get("/metrics")).text
            return text if _metric(text, "tns_router_queue_depth", queue) == depth else None

        before = await eventually(lambda: gauges(2.0))
        alice = await d.reviewer("alice", f"review:{queue}")
        case = (await d.claim(queue, alice)).json()
        await d.decide(case["case_id"], alice, REMOVE)
        after = await eventually(lambda: gauges(1.0))
    assert _metric(before, "tns_router_queue_past_deadline", queue) == 1.0
    assert (_metric(before, "tns_router_queue_oldest_age_seconds", queue) or -1) >= 0
    assert _metric(after, "tns_router_queue_past_deadline", queue) == 0.0
    assert _metric(after, "tns_router_time_to_first_decision_seconds_count", queue) == 1.0


async def test_escalation_moves_the_case_and_its_task_to_another_queue(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        # Harassment (S2) goes up to the violent-threats queue (S1).
        queue, legal = d.queue("harassment"), d.queue("violence")
        await d.route(classified(PolicyArea.HARASSMENT, 0.6))
        alice = await d.reviewer("alice", f"review:{queue}")
        counsel = await d.reviewer("counsel", f"review:{legal}")
        case = (await d.claim(queue, alice)).json()
        async with TopicWatcher(kafka.bootstrap_servers, Topics(namespace).review(legal)) as tasks:
            moved = await d.api.post(
                f"/v1/cases/{case['case_id']}/escalate",
                json={"queue": legal, "reason": "possible court order"},
                headers=alice,
            )
            [task] = await tasks.wait_for(1)
        left_behind = await d.claim(queue, alice)
        taken = (await d.claim(legal, counsel)).json()
        bad_queue = await d.api.post(
            f"/v1/cases/{taken['case_id']}/escalate",
            json={"queue": "Not A Queue", "reason": "x"},
            headers=counsel,
        )
    assert moved.status_code == 200 and moved.json()["queue"] == legal
    payload = json.loads(task.value)["payload"]
    assert (payload["case_id"], payload["queue"]) == (case["case_id"], legal)
    assert "possible court order" in payload["reason"]
    assert left_behind.status_code == 204
    assert taken["case_id"] == case["case_id"]
    assert bad_queue.status_code == 422
    assert [e["field"] for e in bad_queue.json()["error"]["details"]] == ["body.queue"]


async def test_escalation_only_to_a_configured_queue_cleared_for_the_case_severity(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        queue = d.queue("child-safety")
        await d.route(classified(PolicyArea.CHILD_SAFETY, 0.6))
        alice = await d.reviewer("alice", "review:*")
        case = (await d.claim(queue, alice)).json()
        url = f"/v1/cases/{case['case_id']}/escalate"
        unknown = await d.api.post(
            url, json={"queue": d.queue("legal"), "reason": "to counsel"}, headers=alice
        )
        # The general queue is cleared for S1 cases at most; child safety is S0.
        lower = await d.api.post(
            url, json={"queue": d.queue("general"), "reason": "not sure"}, headers=alice
        )
        still_held = (await d.api.get(f"/v1/cases/{case['case_id']}", headers=alice)).json()
        same_floor = await d.api.post(
            url, json={"queue": d.queue("self-harm"), "reason": "self-harm risk"}, headers=alice
        )
    assert unknown.status_code == 422, unknown.text
    [detail] = unknown.json()["error"]["details"]
    assert (detail["field"], detail["type"]) == ("body.queue", "queue_unknown")
    assert d.queue("general") in detail["message"]
    assert lower.status_code == 422, lower.text
    [detail] = lower.json()["error"]["details"]
    assert (detail["field"], detail["type"]) == ("body.queue", "queue_below_severity")
    assert (still_held["queue"], still_held["lease_holder"]) == (queue, f"alice-{d.tag}")
    assert same_floor.status_code == 200 and same_floor.json()["queue"] == d.queue("self-harm")
