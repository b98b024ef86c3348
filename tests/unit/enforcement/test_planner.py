"""Planning a decision, without a database or a broker: what it writes and what it publishes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.enforcement.ladder import load_policy
from services.enforcement.plan import BatchPlan
from services.enforcement.planner import Planner
from services.enforcement.settings import DEFAULT_POLICY
from shared.events import (
    ActionIssued,
    ActionType,
    AppealRef,
    ContentType,
    DecisionMade,
    Outcome,
    Recipient,
    Source,
    Subject,
    SubjectType,
    UserNotified,
    derive_id,
)
from shared.taxonomy import PolicyArea, dsa_category
from tests import factories

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CLIENT = "client-a"
POLICY = load_policy(DEFAULT_POLICY)


def planner() -> Planner:
    return Planner(POLICY, confirm_timeout_s=300, appeal_window_months=6)


def decision(
    *,
    owner: str | None = "acct-1",
    area: PolicyArea = PolicyArea.HARASSMENT,
    action: ActionType | None = ActionType.REMOVE_CONTENT,
    **payload: Any,
) -> DecisionMade:
    d = factories.make_decision(action=action)
    subject = d.payload.subject.model_copy(update={"owner_account_id": owner})
    update = {
        "subject": subject,
        "policy_area": area,
        "dsa_category": dsa_category(area),
        "client_id": CLIENT,
        **payload,
    }
    return d.model_copy(update={"payload": d.payload.model_copy(update=update)})


def plan_one(event: DecisionMade, weights: dict[tuple[str | None, str], int]) -> BatchPlan:
    plan = BatchPlan(now=NOW, service="enforcement")
    plan.clients = {event.payload.decision_id: event.payload.client_id}
    planner().plan_decision(event, plan, weights)
    return plan


def issued(plan: BatchPlan) -> list[ActionIssued]:
    return [e for e in plan.events if isinstance(e, ActionIssued)]


def notices(plan: BatchPlan) -> list[UserNotified]:
    return [e for e in plan.events if isinstance(e, UserNotified)]


def test_first_strike_removes_the_content_and_warns_the_owner() -> None:
    event = decision()
    weights = {(CLIENT, "acct-1"): 0}
    plan = plan_one(event, weights)
    assert [e.payload.action for e in issued(plan)] == [
        ActionType.REMOVE_CONTENT,
        ActionType.WARN_ACCOUNT,
    ]
    assert weights[(CLIENT, "acct-1")] == 1
    [strike] = plan.strike_rows
    assert strike["account_id"] == "acct-1" and strike["client_id"] == CLIENT
    assert strike["expires_at"] == NOW + timedelta(days=90)
    # One ledger row, one statement of reasons per action; ids derived from the decision.
    assert [r["action_id"] for r in plan.action_rows] == [e.payload.action_id for e in issued(plan)]
    assert plan.action_rows[0]["action_id"] == derive_id(
        "action", str(event.payload.decision_id), "remove_content"
    )
    assert [r["puid"] for r in plan.statement_rows] == [
        f"sor-{r['action_id']}" for r in plan.action_rows
    ]
    assert all(r["next_attempt_at"] == NOW + timedelta(seconds=300) for r in plan.action_rows)
    acts = [e.act for e in plan.audit]
    assert acts == ["decision_recorded", "strike_recorded", "action_issued", "action_issued"]


def test_the_ladder_suspends_at_five_strikes() -> None:
    plan = plan_one(decision(), {(CLIENT, "acct-1"): 4})
    assert [(e.payload.action, e.payload.ends_at) for e in issued(plan)] == [
        (ActionType.REMOVE_CONTENT, None),
        (ActionType.SUSPEND_ACCOUNT, NOW + timedelta(days=30)),
    ]


def test_a_graver_requested_account_action_wins_over_the_ladder() -> None:
    event = decision(action=ActionType.TERMINATE_ACCOUNT, owner=None)
    event = event.model_copy(
        update={
            "payload": event.payload.model_copy(
                update={
                    "subject": Subject(
                        subject_type=SubjectType.ACCOUNT,
                        subject_id="acct-9",
                        content_type=ContentType.OTHER,
                    ),
                }
            )
        }
    )
    plan = plan_one(event, {(CLIENT, "acct-9"): 0})
    assert [e.payload.action for e in issued(plan)] == [ActionType.TERMINATE_ACCOUNT]


def test_child_safety_terminates_holds_evidence_and_creates_a_legal_report() -> None:
    plan = plan_one(decision(area=PolicyArea.CHILD_SAFETY), {(CLIENT, "acct-1"): 0})
    assert ActionType.TERMINATE_ACCOUNT in [e.payload.action for e in issued(plan)]
    [held] = plan.evidence_rows
    assert held["hold_until"] == NOW + timedelta(days=365)
    [legal] = plan.legal_rows
    assert legal["channel"] == "cybertipline" and legal["due_at"] == NOW + timedelta(hours=24)
    assert {"preservation_hold_placed", "legal_report_created"} <= {e.act for e in plan.audit}


def test_content_without_an_owner_gets_no_strike() -> None:
    plan = plan_one(decision(owner=None), {})
    assert plan.strike_rows == []
    assert [e.payload.action for e in issued(plan)] == [ActionType.REMOVE_CONTENT]
    # No affected account to tell; the notifier is told the outcome.
    assert [n.payload.recipient for n in notices(plan)] == [Recipient.NOTIFIER]


def test_no_action_tells_only_the_notifier_and_writes_no_ledger_row() -> None:
    plan = plan_one(decision(action=None, outcome=Outcome.NO_ACTION), {})
    assert plan.action_rows == [] and plan.strike_rows == [] and plan.evidence_rows == []
    [notice] = notices(plan)
    assert notice.payload.recipient is Recipient.NOTIFIER
    assert "Outcome: no action" in notice.payload.message


def test_the_affected_user_is_told_how_to_appeal_until_when() -> None:
    plan = plan_one(decision(source=Source.AUTOMATED_DETECTION), {(CLIENT, "acct-1"): 0})
    [notice] = notices(plan)
    assert notice.payload.recipient is Recipient.AFFECTED_USER
    assert notice.payload.recipient_ref == "acct-1"
    assert notice.payload.appeal_until == datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


def test_an_overturned_appeal_reverses_the_original_actions() -> None:
    original_id = uuid.uuid4()
    appeal_id = uuid.uuid4()
    event = decision(
        action=None,
        outcome=Outcome.NO_ACTION,
        appeal=AppealRef(
            appeal_id=appeal_id,
            decision_id=original_id,
            appellant="affected_user",
            original_outcome=Outcome.ACTION,
            original_action=ActionType.REMOVE_CONTENT,
        ),
    )
    original_row = {
        "action_id": uuid.uuid4(),
        "decision_id": original_id,
        "report_id": event.payload.report_id,
        "subject_type": "content",
        "subject_id": event.payload.subject.subject_id,
        "content_type": "text",
        "owner_account_id": "acct-1",
        "action": "remove_content",
        "status": "applied",
        "policy_area": "harassment",
        "dsa_category": event.payload.dsa_category.value,
        "decided_by": "automated",
        "reason": "test",
        "issued_at": NOW - timedelta(days=2),
        "ends_at": None,
        "territorial_scope": None,
        "correlation_id": None,
    }
    plan = BatchPlan(now=NOW, service="enforcement")
    plan.clients = {event.payload.decision_id: CLIENT}
    settled = planner().plan_appeals(
        [event],
        plan,
        lodged_at={appeal_id: NOW - timedelta(hours=5)},
        live_actions={original_id: [original_row]},
    )
    assert settled.reversed_ids == [original_row["action_id"]]
    assert settled.overturned_decisions == [original_id]
    assert settled.acting == []
    [update] = settled.appeal_updates
    assert update["a_status"] == "overturned"
    [reversal] = issued(plan)
    assert reversal.payload.reverses == original_row["action_id"]
    assert [r.result for r in settled.results] == ["overturned"]

    weights = {(CLIENT, "acct-1"): 3}
    lost = [(original_id, CLIENT, "acct-1", 1, NOW + timedelta(days=10))]
    planner().plan_strike_reversals(lost, [event], plan, weights)
    assert weights[(CLIENT, "acct-1")] == 2
    assert [e.act for e in plan.audit] == ["appeal_decided", "action_reversed", "strike_reversed"]


def test_an_upheld_appeal_reverses_nothing() -> None:
    event = decision(
        appeal=AppealRef(
            appeal_id=uuid.uuid4(),
            decision_id=uuid.uuid4(),
            appellant="affected_user",
            original_outcome=Outcome.ACTION,
            original_action=ActionType.REMOVE_CONTENT,
        ),
    )
    plan = BatchPlan(now=NOW, service="enforcement")
    plan.clients = {event.payload.decision_id: CLIENT}
    settled = planner().plan_appeals([event], plan, lodged_at={}, live_actions={})
    assert settled.reversed_ids == [] and settled.overturned_decisions == []
    assert settled.appeal_updates[0]["a_status"] == "upheld"
    assert settled.results[0].lodged_at is None
    assert plan.events == []
