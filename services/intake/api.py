"""Intake's HTTP routes: thin; the work is in ``ingest`` and ``ReportWriter``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy import select

from services.intake.ingest import build_event
from services.intake.models import reports
from services.intake.schemas import ReportAccepted, ReportCreate, ReportRead
from services.intake.writer import ReportWriter
from shared.apikeys import AUTH_RESPONSES, Principal, require_scope
from shared.errors import ApiError

router = APIRouter(prefix="/v1", tags=["reports"])


@router.post(
    "/reports",
    status_code=202,
    response_model=ReportAccepted,
    summary="Submit a report",
    description="Accepted (202) only after the broker acknowledged the ReportReceived event. "
    "A retry with the same Idempotency-Key returns the original report.",
    responses={**AUTH_RESPONSES, 413: {"description": "Body too large"}},
)
async def create_report(
    body: ReportCreate,
    request: Request,
    response: Response,
    principal: Principal = require_scope("reports:write"),
    idempotency_key: Annotated[
        str | None, Header(max_length=256, description="Makes a retried POST safe")
    ] = None,
) -> ReportAccepted:
    writer: ReportWriter = request.app.state.writer
    event = build_event(body, client_id=principal.client_id)
    stored = await writer.submit(event, idempotency_key)
    status_url = f"/v1/reports/{stored.report_id}"
    response.headers["Location"] = status_url
    return ReportAccepted(
        report_id=stored.report_id,
        status=stored.status,
        status_url=status_url,
        received_at=stored.received_at,
        duplicate=stored.duplicate,
    )


@router.get(
    "/reports/{report_id}",
    response_model=ReportRead,
    summary="Where a report is",
    responses={**AUTH_RESPONSES, 404: {"description": "No such report for this client"}},
)
async def get_report(
    report_id: uuid.UUID, request: Request, principal: Principal = require_scope("reports:read")
) -> ReportRead:
    async with request.app.state.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(reports).where(
                    reports.c.report_id == report_id, reports.c.client_id == principal.client_id
                )
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "no such report")
    return ReportRead.model_validate(row, from_attributes=True)
