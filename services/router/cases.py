"""Cases in the database: what a review task shows, and opening QA and appeal cases.

A case is one subject and policy area (or one appeal, or one QA re-review). It lives in the
``cases`` table, which is the queue the review API works; every change a reviewer should see is
also published as a ``ReviewTaskCreated`` with the same ``task_id`` (derived from the case id) and a
new event id per revision, so push-based review tools replace the task they hold rather than
showing the case twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.router.models import case_reports, cases, routings
from services.router.policy import Policy, priority
from shared.events import (
    AppealRef,
    ClassifiedReport,
    ReviewTask,
    ReviewTaskCreated,
    Source,
    Subject,
    derive_id,
)
from shared.taxonomy import POLICY_AREAS, PolicyArea, Tier

CaseRow = Mapping[str, Any]


def task_id(case_id: uuid.UUID) -> uuid.UUID:
    """One task id per case, whatever its revision: review tools key on it."""
    return derive_id("task", case_id)


async def linked_reports(
    conn: AsyncConnection, case_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Report ids linked to each case, oldest first."""
    ids = list(case_ids)
    out: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in ids}
    if not ids:
        return out
    rows = await conn.execute(
        select(case_reports.c.case_id, case_reports.c.report_id)
        .where(case_reports.c.case_id.in_(ids))
        .order_by(case_reports.c.linked_at, case_reports.c.report_id)
    )
    for case_id, report_id in rows:
        out[case_id].append(report_id)
    return out


async def load_payloads(
    conn: AsyncConnection, report_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ClassifiedReport]:
    """The classified reports as routed, by report id (those routed before payloads are absent)."""
    ids = list(set(report_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        select(routings.c.report_id, routings.c.payload).where(
            routings.c.report_id.in_(ids), routings.c.payload.is_not(None)
        )
    )
    return {rid: ClassifiedReport.model_validate(payload) for rid, payload in rows}


def build_task(
    case: CaseRow, report_ids: Sequence[uuid.UUID], payloads: Mapping[uuid.UUID, ClassifiedReport]
) -> ReviewTask | None:
    """The review task of a case: the latest report in full, the earlier ones, the history.

    ``classification.context.prior_actions`` of the latest report is the subject's history.
    None when none of the case's reports is known to the router (nothing to show on a topic).
    """
    known = [payloads[r] for r in report_ids if r in payloads]
    if not known:
        return None
    latest = known[-1]
    return ReviewTask(
        task_id=task_id(case["case_id"]),
        case_id=case["case_id"],
        queue=case["queue"],
        policy_area=PolicyArea(case["policy_area"]),
        tier=Tier(case["tier"]),
        priority=case["priority"],
        deadline=case["deadline"],
        reason=case["reason"],
        policy_version=case["policy_version"],
        report=latest.report,
        classification=latest.classification,
        report_ids=list(report_ids),
        reports=[p.report for p in known[:-1]],
        appeal=AppealRef.model_validate(case["appeal"]) if case["appeal"] else None,
    )


def task_event(
    task: ReviewTask, revision: int, *, correlation_id: uuid.UUID, causation_id: uuid.UUID | None
) -> ReviewTaskCreated:
    return ReviewTaskCreated(
        event_id=derive_id("event", task.task_id, revision),
        producer="router",
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=task,
    )


async def task_events(
    conn: AsyncConnection, rows: Sequence[CaseRow], causation_id: uuid.UUID | None = None
) -> list[ReviewTaskCreated]:
    """Current review tasks of these cases, as events to publish."""
    links = await linked_reports(conn, [r["case_id"] for r in rows])
    payloads = await load_payloads(conn, (rid for ids in links.values() for rid in ids))
    out = []
    for row in rows:
        ids = links[row["case_id"]]
        task = build_task(row, ids, payloads)
        if task is not None:
            out.append(
                task_event(task, row["revision"], correlation_id=ids[0], causation_id=causation_id)
            )
    return out


def new_case(
    *,
    case_id: uuid.UUID,
    kind: str,
    subject: Subject,
    source: Source,
    area: PolicyArea,
    queue: str,
    priority_value: int,
    deadline: datetime,
    reason: str,
    policy_version: str,
    first_report_id: uuid.UUID,
    now: datetime,
    excluded: Sequence[str] = (),
    appeal: AppealRef | None = None,
    qa_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A row for the ``cases`` table."""
    return {
        "case_id": case_id,
        "kind": kind,
        "subject_id": subject.subject_id,
        "subject": subject.model_dump(mode="json"),
        "source": source.value,
        "policy_area": area.value,
        "tier": POLICY_AREAS[area].tier.value,
        "queue": queue,
        "status": "open",
        "priority": priority_value,
        "deadline": deadline,
        "reason": reason,
        "policy_version": policy_version,
        "first_report_id": first_report_id,
        "report_count": 1,
        "revision": 1,
        "created_at": now,
        "updated_at": now,
        "excluded_reviewers": list(excluded),
        "appeal": appeal.model_dump(mode="json") if appeal else None,
        "qa_of": qa_of,
    }


def qa_case(
    policy: Policy,
    *,
    decision_id: uuid.UUID,
    subject: Subject,
    source: Source,
    area: PolicyArea,
    first_report_id: uuid.UUID,
    decided_by: str,
    actor: str,
    outcome: str,
    action: str | None,
    policy_version: str,
    model_versions: Mapping[str, str],
    excluded: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """A QA re-review case for a decision, on the QA queue, closed to its original deciders."""
    tier = POLICY_AREAS[area].tier
    return new_case(
        case_id=derive_id("qa-case", decision_id),
        kind="qa",
        subject=subject,
        source=source,
        area=area,
        queue=policy.qa.queue,
        priority_value=priority(tier, source, 0.0) - 1000,
        deadline=now + timedelta(minutes=policy.qa.sla_minutes),
        reason=f"QA re-review of a {decided_by} decision ({outcome})",
        policy_version=policy_version,
        first_report_id=first_report_id,
        now=now,
        excluded=excluded,
        qa_of={
            "decision_id": str(decision_id),
            "decided_by": decided_by,
            "actor": actor,
            "outcome": outcome,
            "action": action,
            "rule": area.value,
            "policy_version": policy_version,
            "model_versions": dict(model_versions),
        },
    )


async def fetch_case(
    conn: AsyncConnection, case_id: uuid.UUID, *, for_update: bool = False
) -> CaseRow | None:
    stmt = select(cases).where(cases.c.case_id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return dict(row._mapping) if row else None
