"""Enforcement's handler: record decisions, issue their actions, append the audit trail."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from services.enforcement import audit
from services.enforcement.audit import AuditEntry
from services.enforcement.models import actions, decisions
from shared.events import Action, ActionIssued, DecisionMade, Outcome, derive_id, utcnow
from shared.kafka.consumer import HandlerContext


async def handle_decisions(events: list[DecisionMade], ctx: HandlerContext) -> list[ActionIssued]:
    """One transaction per batch: decisions, actions and audit rows in bulk inserts."""
    conn = ctx.conn
    assert conn is not None
    now = utcnow()
    by_id = {e.payload.decision_id: e for e in events}
    recorded = set(
        (
            await conn.execute(
                insert(decisions)
                .on_conflict_do_nothing(index_elements=["decision_id"])
                .returning(decisions.c.decision_id),
                [_decision_row(e, now) for e in by_id.values()],
            )
        ).scalars()
    )
    fresh = [by_id[d] for d in by_id if d in recorded]
    entries: list[AuditEntry] = []
    issued: list[ActionIssued] = []
    for event in fresh:
        d = event.payload
        entries.append(
            AuditEntry(
                actor_kind=d.actor.kind,
                actor_id=d.actor.actor_id,
                act="decision_recorded",
                recorded_at=now,
                subject_id=d.subject.subject_id,
                report_id=d.report_id,
                decision_id=d.decision_id,
                details={
                    "outcome": d.outcome.value,
                    "action": d.action.value if d.action else None,
                    "policy_area": d.policy_area.value,
                    "decided_by": d.decided_by.value,
                    "reason": d.reason,
                    "score": d.score,
                    "versions": d.actor.versions,
                },
            )
        )
        if d.outcome is Outcome.ACTION and d.action is not None:
            action_id = derive_id("action", d.decision_id, d.action.value)
            issued.append(
                ActionIssued(
                    event_id=derive_id("event", action_id),
                    producer="enforcement",
                    correlation_id=event.correlation_id,
                    causation_id=event.event_id,
                    payload=Action(
                        action_id=action_id,
                        decision_id=d.decision_id,
                        report_id=d.report_id,
                        subject=d.subject,
                        action=d.action,
                        policy_area=d.policy_area,
                        dsa_category=d.dsa_category,
                        decided_by=d.decided_by,
                        reason=d.reason,
                        issued_at=now,
                    ),
                )
            )
            entries.append(
                AuditEntry(
                    actor_kind="system",
                    actor_id="enforcement",
                    act="action_issued",
                    recorded_at=now,
                    subject_id=d.subject.subject_id,
                    report_id=d.report_id,
                    decision_id=d.decision_id,
                    action_id=action_id,
                    details={"action": d.action.value, "status": "issued"},
                )
            )
    if issued:
        await conn.execute(
            insert(actions).on_conflict_do_nothing(),
            [
                {
                    "action_id": a.payload.action_id,
                    "decision_id": a.payload.decision_id,
                    "report_id": a.payload.report_id,
                    "subject_type": a.payload.subject.subject_type.value,
                    "subject_id": a.payload.subject.subject_id,
                    "action": a.payload.action.value,
                    "policy_area": a.payload.policy_area.value,
                    "status": "issued",
                    "issued_at": now,
                }
                for a in issued
            ],
        )
    await audit.append(conn, entries)
    return issued


def _decision_row(event: DecisionMade, now: object) -> dict[str, object]:
    d = event.payload
    return {
        "decision_id": d.decision_id,
        "report_id": d.report_id,
        "subject_type": d.subject.subject_type.value,
        "subject_id": d.subject.subject_id,
        "owner_account_id": d.subject.owner_account_id,
        "policy_area": d.policy_area.value,
        "dsa_category": d.dsa_category.value,
        "source": d.source.value,
        "outcome": d.outcome.value,
        "action": d.action.value if d.action else None,
        "decided_by": d.decided_by.value,
        "actor_kind": d.actor.kind,
        "actor_id": d.actor.actor_id,
        "versions": d.actor.versions,
        "reason": d.reason,
        "score": d.score,
        "decided_at": d.decided_at,
        "recorded_at": now,
    }
