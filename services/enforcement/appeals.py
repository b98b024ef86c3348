"""Appeals (DSA Art. 20): lodging, the six-month window, and the statistics per policy area.

An accepted appeal is recorded, audited and published as ``AppealLodged``; the router puts it
on the appeals queue for a reviewer other than the original one. Its decision comes back as a
``DecisionMade`` with ``appeal`` set (see ``planner.Planner.plan_appeals``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from services.enforcement import audit, repository
from services.enforcement.audit import AuditEntry
from services.enforcement.ladder import add_months
from services.enforcement.metrics import APPEALS_LODGED, APPEALS_REFUSED
from shared.errors import ApiError
from shared.events import (
    ActionType,
    Appeal,
    AppealLodged,
    AppealRef,
    ContentType,
    Outcome,
    Subject,
    SubjectType,
    derive_id,
    utcnow,
)
from shared.kafka.producer import EventProducer
from shared.taxonomy import PolicyArea

Appellant = Literal["affected_user", "notifier"]


@dataclass(frozen=True, slots=True)
class Lodged:
    appeal_id: uuid.UUID
    decision_id: uuid.UUID
    appellant: str
    lodged_at: Any
    window_ends_at: Any


async def lodge(
    engine: AsyncEngine,
    producer: EventProducer,
    *,
    decision_id: uuid.UUID,
    appellant: Appellant,
    statement: str,
    lodged_by: str,
    window_months: int,
    service: str,
) -> Lodged:
    """Accept an appeal against a decision, or raise ``ApiError`` saying why not.

    Only the client that owns the decision (``lodged_by``) can appeal it: to any other the
    decision is unknown (404).
    """
    now = utcnow()
    async with engine.begin() as conn:
        d = await repository.decision(conn, decision_id=decision_id)
        if d is None or d.client_id != lodged_by:
            APPEALS_REFUSED.labels(service, "unknown_decision").inc()
            raise ApiError(404, "not_found", f"no decision {decision_id}")
        if d.appeal_id is not None:
            APPEALS_REFUSED.labels(service, "final").inc()
            raise ApiError(
                422,
                "not_appealable",
                f"decision {decision_id} settled appeal {d.appeal_id} and is final on the "
                "platform; an out-of-court dispute settlement body or a court can review it",
            )
        communicated = d.communicated_at or d.recorded_at
        window_ends = add_months(communicated, window_months)
        if now > window_ends:
            APPEALS_REFUSED.labels(service, "window_closed").inc()
            raise ApiError(
                422,
                "appeal_window_closed",
                f"the appeal window for decision {decision_id} closed on "
                f"{window_ends.isoformat()}: appeals are open for {window_months} months after "
                f"the decision was communicated on {communicated.isoformat()}",
            )
        appeal_id = derive_id("appeal", decision_id, appellant)
        reviewer = d.actor_id if d.actor_kind == "reviewer" else None
        created = await repository.insert_appeal(
            conn,
            values={
                "appeal_id": appeal_id,
                "decision_id": decision_id,
                "appellant": appellant,
                "lodged_by": lodged_by,
                "statement": statement,
                "policy_area": d.policy_area,
                "subject_id": d.subject_id,
                "original_outcome": d.outcome,
                "original_action": d.action,
                "original_reviewer_id": reviewer,
                "lodged_at": now,
                "status": "open",
                "client_id": d.client_id,
            },
        )
        if not created:
            raise ApiError(
                409,
                "appeal_exists",
                f"the {appellant.replace('_', ' ')} already appealed decision {decision_id} "
                f"(appeal {appeal_id})",
            )
        await audit.append(
            conn,
            [
                AuditEntry(
                    actor_kind="client",
                    actor_id=lodged_by,
                    act="appeal_lodged",
                    recorded_at=now,
                    subject_id=d.subject_id,
                    report_id=d.report_id,
                    decision_id=decision_id,
                    case_id=d.case_id,
                    details={
                        "appeal_id": str(appeal_id),
                        "appellant": appellant,
                        "window_ends_at": window_ends.isoformat(),
                    },
                    client_id=d.client_id,
                )
            ],
        )
        event = AppealLodged(
            event_id=derive_id("event", appeal_id),
            producer=service,
            correlation_id=d.report_id,
            payload=Appeal(
                appeal=AppealRef(
                    appeal_id=appeal_id,
                    decision_id=decision_id,
                    appellant=appellant,
                    statement=statement,
                    original_reviewer_id=reviewer,
                    original_outcome=Outcome(d.outcome),
                    original_action=ActionType(d.action) if d.action else None,
                ),
                report_id=d.report_id,
                subject=Subject(
                    subject_type=SubjectType(d.subject_type),
                    subject_id=d.subject_id,
                    content_type=ContentType(d.content_type or ContentType.OTHER.value),
                    owner_account_id=d.owner_account_id,
                ),
                policy_area=PolicyArea(d.policy_area),
                lodged_at=now,
            ),
        )
        # Acknowledged before the commit: a lodged appeal always reaches the appeals queue.
        await producer.publish([event])
    APPEALS_LODGED.labels(service, d.policy_area, appellant).inc()
    return Lodged(appeal_id, decision_id, appellant, now, window_ends)


async def stats(engine: AsyncEngine, client_id: str | None) -> list[dict[str, Any]]:
    """Per policy area: appeal rate, overturn rate and median appeal decision time, of one
    client's decisions (every client's when ``client_id`` is None)."""
    async with engine.connect() as conn:
        rows = await repository.appeal_counts(conn, client=client_id)
    return [
        {
            "policy_area": r["policy_area"],
            "decisions": r["decisions"],
            "appeals": r["appeals"],
            "decided": r["decided"],
            "overturned": r["overturned"],
            "appeal_rate": r["appeals"] / r["decisions"] if r["decisions"] else 0.0,
            "overturn_rate": r["overturned"] / r["decided"] if r["decided"] else None,
            "median_decision_seconds": r["median_s"],
        }
        for r in rows
    ]
