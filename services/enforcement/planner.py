"""Enforcement's planning: what one batch of decisions writes and publishes, without I/O.

Pure functions of plain inputs: the decisions, what the database already holds about them (the
accounts' active strike weights, the appeals lodged and the actions they would reverse), the
strike ladder and the policy. The handlers read those inputs, call the planner and write its
:class:`BatchPlan`; the planner never touches the database or the broker, so it is tested
without either.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.enforcement.ladder import (
    ACCOUNT_ACTIONS,
    OWNER_ACTIONS,
    AccountStep,
    EnforcementPolicy,
    combine,
    ends_at,
    ladder_step,
)
from services.enforcement.notices import plan_notices
from services.enforcement.plan import Account, BatchPlan, account_of, action_event
from services.enforcement.sor import StatementBuilder
from shared.events import (
    ActionType,
    Decision,
    DecisionMade,
    Outcome,
    derive_id,
)


@dataclass(frozen=True, slots=True)
class AppealResult:
    """How one appeal was settled, for the handler's metrics."""

    policy_area: str
    result: str
    lodged_at: datetime | None


@dataclass(slots=True)
class AppealPlan:
    """What settling a batch's appeals changes besides the batch plan's rows and events."""

    acting: list[DecisionMade] = field(default_factory=list)
    """Appeal decisions that issue actions of their own (planned like any decision)."""
    appeal_updates: list[dict[str, Any]] = field(default_factory=list)
    reversed_ids: list[uuid.UUID] = field(default_factory=list)
    overturned_decisions: list[uuid.UUID] = field(default_factory=list)
    results: list[AppealResult] = field(default_factory=list)


class Planner:
    """Plans decisions under one policy: actions, strikes, holds, statements, notices."""

    def __init__(
        self,
        policy: EnforcementPolicy,
        *,
        confirm_timeout_s: float,
        appeal_window_months: int,
    ) -> None:
        self.policy = policy
        self.confirm_timeout = timedelta(seconds=confirm_timeout_s)
        self.appeal_window_months = appeal_window_months
        self.statements = StatementBuilder(policy)

    # Categorical values go into rows, audit details and derived ids as the events' StrEnum
    # members: each member is its value (a ``str`` that hashes, compares, formats and encodes
    # as the value), and ``.value`` is a descriptor call, dozens of times per decision.

    def decision_row(self, event: DecisionMade, plan: BatchPlan) -> dict[str, Any]:
        d = event.payload
        now = plan.now
        return {
            "decision_id": d.decision_id,
            "report_id": d.report_id,
            "subject_type": d.subject.subject_type,
            "subject_id": d.subject.subject_id,
            "owner_account_id": d.subject.owner_account_id,
            "content_type": d.subject.content_type,
            "policy_area": d.policy_area,
            "dsa_category": d.dsa_category,
            "source": d.source,
            "outcome": d.outcome,
            "action": d.action,
            "decided_by": d.decided_by,
            "actor_kind": d.actor.kind,
            "actor_id": d.actor.actor_id,
            "versions": d.actor.versions,
            "reason": d.reason,
            "score": d.score,
            "decided_at": d.decided_at,
            "recorded_at": now,
            "case_id": d.case_id,
            "report_ids": d.report_ids or None,
            "appeal_id": d.appeal.appeal_id if d.appeal else None,
            # The notices go out in this batch, before its transaction commits.
            "communicated_at": now,
            "client_id": plan.clients[d.decision_id],
            "received_at": d.received_at,
        }

    def plan_decision(
        self, event: DecisionMade, plan: BatchPlan, weights: dict[Account, int]
    ) -> None:
        d = event.payload
        plan.counts[("decision", d.policy_area, d.outcome)] += 1
        plan.record(
            "decision_recorded",
            d,
            (d.actor.kind, d.actor.actor_id),
            outcome=d.outcome,
            action=d.action,
            policy_area=d.policy_area,
            decided_by=d.decided_by,
            reason=d.reason,
            score=d.score,
            versions=d.actor.versions,
            **({"confirmed_by": d.confirmed_by} if d.confirmed_by else {}),
            **({"report_ids": [str(r) for r in d.report_ids]} if d.report_ids else {}),
            **({"appeal_id": str(d.appeal.appeal_id)} if d.appeal else {}),
        )
        issued: list[tuple[uuid.UUID, ActionType]] = []
        if d.outcome is Outcome.ACTION and d.action is not None:
            issued = self._plan_actions(event, plan, weights)
        plan_notices(d, issued, plan, appeal_window_months=self.appeal_window_months)

    def _plan_actions(
        self, event: DecisionMade, plan: BatchPlan, weights: dict[Account, int]
    ) -> list[tuple[uuid.UUID, ActionType]]:
        d = event.payload
        assert d.action is not None
        area = d.policy_area
        account = account_of(d.subject)
        client = plan.clients[d.decision_id]
        ref = str(d.decision_id)
        wanted: list[tuple[ActionType, int | None]] = []
        requested_step: AccountStep | None = None
        if d.action in ACCOUNT_ACTIONS:
            requested_step = AccountStep(d.action, d.duration_days)
        else:
            wanted.append((d.action, d.duration_days if d.action in OWNER_ACTIONS else None))
        ladder: AccountStep | None = None
        if account is not None:
            weight = self.policy.weight(area)
            key = (client, account)
            if weight > 0:
                weights[key] = weights.get(key, 0) + weight
                plan.strike_rows.append(
                    {
                        "strike_id": derive_id("strike", ref),
                        "account_id": account,
                        "decision_id": d.decision_id,
                        "policy_area": area,
                        "weight": weight,
                        "issued_at": plan.now,
                        "expires_at": plan.now + self.policy.expiry(area),
                        "client_id": client,
                    }
                )
                plan.counts[("strike", area)] += 1
                plan.record(
                    "strike_recorded",
                    d,
                    account_id=account,
                    weight=weight,
                    active_weight=weights[key],
                    policy_version=self.policy.version,
                )
            if weight > 0 or self.policy.rules(area).immediate is not None:
                ladder = ladder_step(self.policy, area, weights[key])
        step = combine(requested_step, ladder)
        if step is not None:
            wanted.append((step.action, step.duration_days))
        issued = []
        for action, duration in wanted:
            action_id = derive_id("action", ref, action)
            until = ends_at(plan.now, duration)
            row = {
                "action_id": action_id,
                "decision_id": d.decision_id,
                "report_id": d.report_id,
                "subject_type": d.subject.subject_type,
                "subject_id": d.subject.subject_id,
                "action": action,
                "policy_area": area,
                "status": "issued",
                "issued_at": plan.now,
                "content_type": d.subject.content_type,
                "owner_account_id": d.subject.owner_account_id,
                "dsa_category": d.dsa_category,
                "decided_by": d.decided_by,
                "reason": d.reason,
                "correlation_id": event.correlation_id,
                "ends_at": until,
                "territorial_scope": d.territorial_scope or None,
                "attempts": 1,
                "next_attempt_at": plan.now + self.confirm_timeout,
                "client_id": client,
            }
            plan.action_rows.append(row)
            plan.events.append(action_event(row, causation_id=event.event_id, subject=d.subject))
            statement = self.statements.build(
                d,
                action_id=action_id,
                action=action,
                applied_at=plan.now,
                ends_at=until,
            )
            plan.statement_rows.append(
                {
                    "puid": statement["puid"],
                    "action_id": action_id,
                    "decision_id": d.decision_id,
                    "statement": statement,
                    "created_at": plan.now,
                }
            )
            plan.counts[("action", action, "issued")] += 1
            plan.record(
                "action_issued",
                d,
                action_id=action_id,
                action=action,
                status="issued",
                ends_at=until.isoformat() if until else None,
                from_ladder=step is not None and action is step.action and step is ladder,
                statement_puid=statement["puid"],
            )
            issued.append((action_id, action))
        self._plan_preservation(d, plan)
        return issued

    def _plan_preservation(self, d: Decision, plan: BatchPlan) -> None:
        refs = [f"subject:{d.subject.subject_id}"]
        refs += [f"report:{r}" for r in (d.report_ids or [d.report_id])]
        hold = self.policy.hold(d.policy_area)
        plan.evidence_rows.append(
            {
                "evidence_id": derive_id("evidence", str(d.decision_id)),
                "decision_id": d.decision_id,
                "subject_id": d.subject.subject_id,
                "policy_area": d.policy_area,
                "refs": refs,
                "recorded_at": plan.now,
                "retain_until": plan.now + timedelta(days=self.policy.evidence_retention_days),
                "hold_until": plan.now + hold if hold else None,
                "hold_reason": f"preservation:{d.policy_area}" if hold else None,
            }
        )
        if hold:
            plan.record(
                "preservation_hold_placed", d, refs=refs, hold_until=(plan.now + hold).isoformat()
            )
        rule = self.policy.legal_reports.get(d.policy_area)
        if rule is not None:
            due = plan.now + timedelta(hours=rule.due_hours)
            plan.legal_rows.append(
                {
                    "legal_report_id": derive_id("legal_report", str(d.decision_id)),
                    "decision_id": d.decision_id,
                    "channel": rule.channel,
                    "status": "pending",
                    "subject_id": d.subject.subject_id,
                    "account_id": account_of(d.subject),
                    "evidence_refs": refs,
                    "created_at": plan.now,
                    "due_at": due,
                }
            )
            plan.counts[("legal", rule.channel)] += 1
            plan.record("legal_report_created", d, channel=rule.channel, due_at=due.isoformat())

    # -- appeals --------------------------------------------------------------------------

    # -- appeals --------------------------------------------------------------------------

    def plan_appeals(
        self,
        events: list[DecisionMade],
        plan: BatchPlan,
        *,
        lodged_at: Mapping[uuid.UUID, datetime],
        live_actions: Mapping[uuid.UUID, list[dict[str, Any]]],
    ) -> AppealPlan:
        """Settle appeals: ``lodged_at`` per appeal id, the appealed decisions' live (not
        reversed) ledger rows per decision id. An overturned decision's actions are reversed."""
        out = AppealPlan()
        for event in events:
            d = event.payload
            ref = d.appeal
            assert ref is not None
            upheld = d.outcome is ref.original_outcome and (
                d.outcome is Outcome.NO_ACTION or d.action is ref.original_action
            )
            result = "upheld" if upheld else "overturned"
            out.appeal_updates.append(
                {
                    "a_id": ref.appeal_id,
                    "a_status": result,
                    "a_decision": d.decision_id,
                    "a_at": plan.now,
                    "a_by": d.actor.actor_id,
                }
            )
            out.results.append(
                AppealResult(d.policy_area.value, result, lodged_at.get(ref.appeal_id))
            )
            plan.record(
                "appeal_decided",
                d,
                (d.actor.kind, d.actor.actor_id),
                appeal_id=str(ref.appeal_id),
                original_decision_id=str(ref.decision_id),
                result=result,
                appellant=ref.appellant,
                by_original_reviewer=(
                    ref.original_reviewer_id is not None
                    and ref.original_reviewer_id == d.actor.actor_id
                ),
            )
            if upheld:
                continue
            out.overturned_decisions.append(ref.decision_id)
            for original in live_actions.get(ref.decision_id, []):
                out.reversed_ids.append(original["action_id"])
                reversal = action_event(
                    {
                        **original,
                        "action_id": derive_id("reversal", original["action_id"]),
                        "decision_id": d.decision_id,
                        "issued_at": plan.now,
                    },
                    reverses=original["action_id"],
                    causation_id=event.event_id,
                )
                plan.events.append(reversal)
                plan.counts[("action", original["action"], "reversed")] += 1
                plan.record(
                    "action_reversed",
                    d,
                    (d.actor.kind, d.actor.actor_id),
                    action_id=original["action_id"],
                    action=original["action"],
                    previous_status=original["status"],
                    reversal_id=str(reversal.payload.action_id),
                    appeal_id=str(ref.appeal_id),
                )
            if d.outcome is Outcome.ACTION:
                out.acting.append(event)
        return out

    def plan_strike_reversals(
        self,
        reversed_strikes: Iterable[tuple[uuid.UUID, str | None, str, int, datetime]],
        events: list[DecisionMade],
        plan: BatchPlan,
        weights: dict[Account, int],
    ) -> None:
        """Audit the strikes an overturned decision lost, given as (original decision, client,
        account, weight, expires_at), and take them off the accounts' active weights."""
        by_original = {
            e.payload.appeal.decision_id: e.payload for e in events if e.payload.appeal is not None
        }
        for original, client, account, weight, expires in reversed_strikes:
            key = (client, account)
            if key in weights and expires > plan.now:
                weights[key] = max(0, weights[key] - weight)
            plan.record(
                "strike_reversed",
                by_original[original],
                account_id=account,
                weight=weight,
                original_decision_id=str(original),
            )
