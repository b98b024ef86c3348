"""Enforcement's HTTP routes: actions per subject, the audit trail and its verification."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from services.enforcement import audit
from services.enforcement.models import actions, audit_log
from services.enforcement.schemas import ActionList, ActionRead, AuditPage, AuditRecord, VerifyRead
from shared.errors import ApiError

router = APIRouter(prefix="/v1", tags=["enforcement"])


@router.get(
    "/subjects/{subject_id}/actions",
    response_model=ActionList,
    summary="Actions taken on a subject, newest first",
)
async def subject_actions(subject_id: str, request: Request) -> ActionList:
    async with request.app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(actions)
            .where(actions.c.subject_id == subject_id)
            .order_by(actions.c.issued_at.desc())
            .limit(500)
        )
        return ActionList(items=[ActionRead.model_validate(dict(r._mapping)) for r in rows])


@router.get("/audit", response_model=AuditPage, summary="The audit trail, oldest first")
async def audit_trail(
    request: Request,
    subject: Annotated[str | None, Query(max_length=256)] = None,
    report: uuid.UUID | None = None,
    after: Annotated[int, Query(ge=0, description="Return records after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    if subject is None and report is None:
        raise ApiError(422, "validation_error", "give a subject or a report")
    query = select(audit_log).where(audit_log.c.seq > after)
    if subject is not None:
        query = query.where(audit_log.c.subject_id == subject)
    if report is not None:
        query = query.where(audit_log.c.report_id == report)
    async with request.app.state.runtime.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(audit_log.c.seq).limit(limit))).mappings().all()
    items = [AuditRecord.model_validate(dict(r)) for r in rows]
    return AuditPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


@router.get(
    "/audit/verify",
    response_model=VerifyRead,
    summary="Walk the hash chain; name the first broken record",
)
async def audit_verify(request: Request) -> VerifyRead:
    result = await audit.verify(request.app.state.runtime.engine)
    return VerifyRead(**dataclasses.asdict(result))
