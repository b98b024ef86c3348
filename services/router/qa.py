"""QA re-review: opening a QA case for a sampled human decision, recording the QA verdict, and
the agreement figures (QA with the original decisions, shadow policies with the live one).

A QA case is closed to the original deciders; its verdict is recorded next to the original
decision (``router.qa_reviews``) and publishes no decision of its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router import repository
from services.router.cases import CaseRow, qa_case, task_events
from services.router.metrics import QA_REVIEWS
from services.router.policy import Policy
from services.router.schemas import AgreementRow, DecisionCreate, DecisionResult, ShadowAgreement
from shared.events import DecidedBy, Decision, Event, Outcome


async def open_qa(
    conn: AsyncConnection,
    policy: Policy,
    *,
    case: CaseRow,
    decision: Decision,
    report_ids: list[uuid.UUID],
    now: datetime,
) -> list[Event]:
    """Open the QA case of a human decision; its task events (none if it already exists)."""
    d = decision
    row = qa_case(
        policy,
        decision_id=d.decision_id,
        subject=d.subject,
        source=d.source,
        area=d.policy_area,
        first_report_id=d.report_id,
        decided_by=DecidedBy.HUMAN.value,
        actor=d.actor.actor_id,
        outcome=d.outcome.value,
        action=d.action.value if d.action else None,
        policy_version=case["policy_version"],
        model_versions={k: v for k, v in d.actor.versions.items() if k != "policy"},
        excluded=[r for r in (d.actor.actor_id, d.confirmed_by) if r],
        now=now,
    )
    if not await repository.insert_case(conn, row=row, report_ids=report_ids, now=now):
        return []
    return list(await task_events(conn, [row]))


async def record_qa(
    conn: AsyncConnection,
    *,
    case: CaseRow,
    reviewer: str,
    body: DecisionCreate,
    now: datetime,
) -> DecisionResult:
    """Record the QA reviewer's verdict on a QA case and close it."""
    original: dict[str, Any] = case["qa_of"]
    action = body.action.value if body.action else None
    agree = original["outcome"] == body.outcome.value and (
        body.outcome is Outcome.NO_ACTION or original["action"] == action
    )
    await repository.insert_qa_review(
        conn,
        qa_case_id=case["case_id"],
        original=original,
        reviewer=reviewer,
        outcome=body.outcome.value,
        action=action,
        agree=agree,
        now=now,
    )
    await repository.mark_decided(
        conn,
        case_id=case["case_id"],
        decided_by=reviewer,
        outcome=body.outcome.value,
        action=action,
        now=now,
    )
    await repository.log_activity(
        conn, case_id=case["case_id"], reviewer=reviewer, act="qa", detail=body.activity_detail()
    )
    QA_REVIEWS.labels(
        original["rule"], original["policy_version"], "agree" if agree else "disagree"
    ).inc()
    return DecisionResult(case_id=case["case_id"], status="recorded")


async def qa_agreement(engine: AsyncEngine, by: str) -> list[AgreementRow]:
    """QA agreement with the original decisions, per reviewer, rule, policy or model."""
    async with engine.connect() as conn:
        rows = await repository.qa_agreement_counts(conn, by=by)
    return [
        AgreementRow(
            key=r.key, reviewed=r.reviewed, agreed=r.agreed, agreement=r.agreed / r.reviewed
        )
        for r in rows
    ]


async def shadow_agreement(engine: AsyncEngine) -> list[ShadowAgreement]:
    """How often each shadow policy would have routed a report as the live one did."""
    async with engine.connect() as conn:
        rows = await repository.shadow_outcome_counts(conn)
    out: dict[tuple[str, str], ShadowAgreement] = {}
    for r in rows:
        s = out.setdefault(
            (r.shadow_version, r.live_version),
            ShadowAgreement(
                shadow_version=r.shadow_version,
                live_version=r.live_version,
                judged=0,
                agreed=0,
                agreement=0.0,
                outcomes={},
            ),
        )
        s.judged += r.n
        s.agreed += r.agreed
        s.outcomes[f"{r.live_outcome}->{r.shadow_outcome}"] = r.n
    for s in out.values():
        s.agreement = s.agreed / s.judged if s.judged else 0.0
    return list(out.values())
