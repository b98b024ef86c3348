"""The review desk's data access: keyword-only query functions over the ``router`` tables.

Each function runs on the caller's connection (the caller owns the transaction); none commits.
Case rows are read with ``cases.fetch_case``; the consumer handlers keep their batch writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, any_, func, insert, literal, not_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.models import case_activity, case_reports, cases, qa_reviews


async def next_claimable(
    conn: AsyncConnection, *, queue: str, reviewer: str, now: datetime
) -> uuid.UUID | None:
    """The queue's next case the reviewer may claim, locked (earliest deadline, then priority).

    Not decided, not leased (or the lease expired), not closed to the reviewer, and not a
    proposal of their own awaiting confirmation; cases locked by another claim are skipped.
    """
    case_id: uuid.UUID | None = (
        await conn.execute(
            select(cases.c.case_id)
            .where(
                cases.c.queue == queue,
                cases.c.status != "decided",
                or_(cases.c.lease_expires_at.is_(None), cases.c.lease_expires_at < now),
                not_(literal(reviewer) == any_(cases.c.excluded_reviewers)),
                or_(cases.c.proposed_by.is_(None), cases.c.proposed_by != reviewer),
            )
            .order_by(cases.c.deadline, cases.c.priority.desc())
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar()
    return case_id


async def lease_case(
    conn: AsyncConnection, *, case_id: uuid.UUID, reviewer: str, expires_at: datetime
) -> None:
    await conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(lease_holder=reviewer, lease_expires_at=expires_at)
    )


async def clear_lease(conn: AsyncConnection, *, case_id: uuid.UUID) -> None:
    await conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(lease_holder=None, lease_expires_at=None)
    )


async def move_case(
    conn: AsyncConnection, *, case_id: uuid.UUID, queue: str, reason: str, now: datetime
) -> None:
    """Put the case on another queue with a new reason; the lease ends, the revision moves on."""
    await conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(
            queue=queue,
            reason=reason,
            revision=cases.c.revision + 1,
            updated_at=now,
            lease_holder=None,
            lease_expires_at=None,
        )
    )


async def mark_proposed(
    conn: AsyncConnection,
    *,
    case_id: uuid.UUID,
    proposal: Mapping[str, Any],
    proposed_by: str,
    now: datetime,
) -> None:
    """A four-eyes decision awaits a second reviewer; the lease ends."""
    await conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(
            status="awaiting_confirmation",
            proposal=dict(proposal),
            proposed_by=proposed_by,
            first_decided_at=func.coalesce(cases.c.first_decided_at, now),
            updated_at=now,
            lease_holder=None,
            lease_expires_at=None,
        )
    )


async def mark_decided(
    conn: AsyncConnection,
    *,
    case_id: uuid.UUID,
    decided_by: str,
    outcome: str,
    action: str | None,
    now: datetime,
    decision: tuple[uuid.UUID, str | None] | None = None,
) -> None:
    """Close the case; ``decision`` is the published decision's id and its confirmer, if any
    (a QA re-review records its verdict without a decision of its own)."""
    values: dict[str, Any] = {
        "status": "decided",
        "decided_at": now,
        "first_decided_at": func.coalesce(cases.c.first_decided_at, now),
        "decided_by": decided_by,
        "outcome": outcome,
        "action": action,
        "updated_at": now,
        "lease_holder": None,
        "lease_expires_at": None,
    }
    if decision is not None:
        values["decision_id"], values["confirmed_by"] = decision
    await conn.execute(update(cases).where(cases.c.case_id == case_id).values(values))


async def log_activity(
    conn: AsyncConnection, *, case_id: uuid.UUID, reviewer: str, act: str, detail: str
) -> None:
    await conn.execute(
        insert(case_activity).values(case_id=case_id, reviewer_id=reviewer, act=act, detail=detail)
    )


async def insert_case(
    conn: AsyncConnection,
    *,
    row: Mapping[str, Any],
    report_ids: Sequence[uuid.UUID],
    now: datetime,
) -> bool:
    """Insert a case and link its reports; False (and nothing linked) if it already exists."""
    inserted = (
        await conn.execute(
            pg_insert(cases).values(dict(row)).on_conflict_do_nothing().returning(cases.c.case_id)
        )
    ).scalar()
    if inserted is None:
        return False
    await conn.execute(
        pg_insert(case_reports).on_conflict_do_nothing(),
        [{"case_id": row["case_id"], "report_id": r, "linked_at": now} for r in report_ids],
    )
    return True


async def insert_qa_review(
    conn: AsyncConnection,
    *,
    qa_case_id: uuid.UUID,
    original: Mapping[str, Any],
    reviewer: str,
    outcome: str,
    action: str | None,
    agree: bool,
    now: datetime,
) -> None:
    """One QA verdict next to the original decision (``original`` is the case's ``qa_of``)."""
    await conn.execute(
        insert(qa_reviews).values(
            qa_case_id=qa_case_id,
            original_decision_id=uuid.UUID(original["decision_id"]),
            decided_by=original["decided_by"],
            original_actor=original["actor"],
            rule=original["rule"],
            policy_version=original["policy_version"],
            model_versions=original["model_versions"],
            original_outcome=original["outcome"],
            original_action=original["action"],
            qa_reviewer=reviewer,
            qa_outcome=outcome,
            qa_action=action,
            agree=agree,
            reviewed_at=now,
        )
    )


# The grouping keys of the QA agreement figures.
_AGREEMENT_KEYS = {
    "reviewer": "original_actor",
    "rule": "rule",
    "policy_version": "policy_version",
    "model": "m.key || '=' || m.value",
}


async def qa_agreement_counts(conn: AsyncConnection, *, by: str) -> Sequence[Row[Any]]:
    """(key, reviewed, agreed) per reviewer (human decisions only), rule, policy or model."""
    key = _AGREEMENT_KEYS[by]
    joins = ", jsonb_each_text(model_versions) AS m" if by == "model" else ""
    where = "WHERE decided_by = 'human'" if by == "reviewer" else ""
    sql = text(
        f"SELECT {key} AS key, count(*) AS reviewed, count(*) FILTER (WHERE agree) AS agreed "
        f"FROM router.qa_reviews{joins} {where} GROUP BY 1 ORDER BY 1"
    )
    return (await conn.execute(sql)).all()


async def shadow_outcome_counts(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """Per shadow and live version and outcome pair: judged reports (n) and agreements."""
    sql = text(
        "SELECT shadow_version, live_version, live_outcome, shadow_outcome, "
        "count(*) AS n, count(*) FILTER (WHERE live_outcome = shadow_outcome "
        "AND live_queue IS NOT DISTINCT FROM shadow_queue) AS agreed "
        "FROM router.shadow_outcomes GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    return (await conn.execute(sql)).all()
