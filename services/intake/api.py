"""Intake's HTTP routes: thin; the work is in ``ingest`` and ``ReportWriter``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from sqlalchemy import select

from services.intake.ingest import build_event
from services.intake.keys import KeyStore, Principal
from services.intake.models import reports
from services.intake.schemas import ReportAccepted, ReportCreate, ReportRead
from services.intake.writer import ReportWriter
from shared.errors import ApiError

router = APIRouter(prefix="/v1", tags=["reports"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown API key"},
    403: {"description": "The key lacks the scope"},
}


def _require(scope: str):  # type: ignore[no-untyped-def]
    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Header(description="Bearer API key")] = None,
        x_api_key: Annotated[str | None, Header(description="API key")] = None,
    ) -> Principal:
        key = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        if not key:
            raise ApiError(
                401,
                "unauthenticated",
                "an API key is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store: KeyStore = request.app.state.keys
        principal = await store.authenticate(key)
        if principal is None:
            raise ApiError(
                401,
                "unauthenticated",
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in principal.scopes:
            raise ApiError(403, "forbidden", f"the API key lacks the {scope!r} scope")
        return principal

    return Depends(dependency)


@router.post(
    "/reports",
    status_code=202,
    response_model=ReportAccepted,
    summary="Submit a report",
    description="Accepted (202) only after the broker acknowledged the ReportReceived event. "
    "A retry with the same Idempotency-Key returns the original report.",
    responses={**_AUTH_ERRORS, 413: {"description": "Body too large"}},
)
async def create_report(
    body: ReportCreate,
    request: Request,
    response: Response,
    principal: Principal = _require("reports:write"),
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
    responses={**_AUTH_ERRORS, 404: {"description": "No such report for this client"}},
)
async def get_report(
    report_id: uuid.UUID, request: Request, principal: Principal = _require("reports:read")
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
