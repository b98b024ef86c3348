"""Intake's HTTP routes: thin; the work is in ``ingest``, ``ReportWriter`` and the handlers."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func, select

from services.intake.ingest import Ingestor, InvalidFieldError, Prepared
from services.intake.metrics import (
    EXEMPT_NOTICES,
    HELD_NOTICES,
    RATE_LIMITED,
    REPORTS_ACCEPTED,
    UNKNOWN_REASON_CODES,
)
from services.intake.misuse import WARNING_TEXT, hold_text
from services.intake.models import misuse_events, report_progress, reports
from services.intake.ratelimit import RateLimiter
from services.intake.schemas import (
    BatchCreate,
    BatchItemResult,
    BatchResult,
    FieldError,
    MisuseSummary,
    OutcomeRead,
    ReportAccepted,
    ReportCreate,
    ReportRead,
)
from services.intake.settings import IntakeSettings
from services.intake.writer import ReportWriter, Stored
from shared.apikeys import AUTH_RESPONSES, Principal, authenticate, require_scope
from shared.errors import ApiError
from shared.events import utcnow
from shared.http import IsoDatetime

router = APIRouter(prefix="/v1", tags=["reports"])

_ERROR_EXAMPLE = {"error": {"code": "rate_limited", "message": "too many requests"}}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    409: {
        "description": "The Idempotency-Key was already used with a different notice "
        "(code idempotency_key_reused); nothing was stored",
    },
    413: {"description": "Body too large"},
    422: {"description": "Invalid field; the details name its path"},
    429: {
        "description": "Over the client's rate limit; retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"example": _ERROR_EXAMPLE}},
    },
}


def _limit(request: Request, principal: Principal, cost: int) -> None:
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.take(principal.client_id, cost)
    if wait > 0:
        RATE_LIMITED.labels("intake").inc()
        raise ApiError(
            429,
            "rate_limited",
            "over this client's rate limit",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


async def _accept(request: Request, prepared: Prepared, key: str | None) -> Stored:
    writer: ReportWriter = request.app.state.writer
    stored = await writer.submit(prepared.outgoing, key)
    if stored.conflict:
        return stored
    if stored.duplicate:
        REPORTS_ACCEPTED.labels("intake", "duplicate").inc()
        return stored
    REPORTS_ACCEPTED.labels("intake", "published" if prepared.publish else "held").inc()
    if not prepared.publish:
        HELD_NOTICES.labels("intake").inc()
    if prepared.exempt:
        EXEMPT_NOTICES.labels("intake").inc()
    if prepared.unknown_code:
        UNKNOWN_REASON_CODES.labels("intake").inc()
    return stored


KEY_REUSED = "idempotency_key_reused"


def _key_reused_message(original: uuid.UUID) -> str:
    return (
        f"this idempotency key was first used for report {original} with a different notice; "
        "use a new key for a new notice"
    )


def _status_url(report_id: uuid.UUID) -> str:
    return f"/v1/reports/{report_id}"


# The submit route reads its headers itself rather than through FastAPI parameters: resolving
# header parameters and a nested dependency costs more per request than everything else the
# route does. The document still lists them, and the checks are the shared ones.
_SUBMIT_HEADERS: list[dict[str, Any]] = [
    {
        "name": "idempotency-key",
        "in": "header",
        "required": False,
        "description": "Makes a retried POST safe",
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    },
    {
        "name": "authorization",
        "in": "header",
        "required": False,
        "description": "Bearer API key",
        "schema": {"type": "string"},
    },
    {
        "name": "x-api-key",
        "in": "header",
        "required": False,
        "description": "API key",
        "schema": {"type": "string"},
    },
]
_require_write: Any = require_scope("reports:write").dependency


async def _writer(request: Request) -> Principal:
    """The caller's principal if its key may submit (401/403 as ``require_scope``)."""
    headers = request.headers
    principal = await authenticate(request, headers.get("authorization"), headers.get("x-api-key"))
    checked: Principal = await _require_write(principal)
    return checked


def valid_idempotency_key(key: str | None) -> bool:
    return key is None or 0 < len(key) <= 256


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if valid_idempotency_key(key):
        return key
    short = not key
    raise RequestValidationError(
        [
            {
                "loc": ("header", "idempotency-key"),
                "msg": "String should have at least 1 character"
                if short
                else "String should have at most 256 characters",
                "type": "string_too_short" if short else "string_too_long",
            }
        ]
    )


@router.post(
    "/reports",
    status_code=202,
    response_model=ReportAccepted,
    summary="Submit a notice",
    description="Accepted (202) only after the broker acknowledged the ReportReceived event "
    "(or, for a reporter suspended under DSA Art. 23, after it was stored as held). "
    "A retry with the same Idempotency-Key and the same notice returns the original report "
    "(duplicate: true); the same key with a different notice is a 409 and stores nothing.",
    responses=_WRITE_RESPONSES,
    openapi_extra={"parameters": _SUBMIT_HEADERS},
)
async def create_report(
    body: ReportCreate, request: Request, principal: Annotated[Principal, Depends(_writer)]
) -> Response:
    return await submit_report(request, body, principal, _idempotency_key(request))


async def submit_report(
    request: Request,
    body: ReportCreate,
    principal: Principal,
    idempotency_key: str | None,
    raw: bytes | None = None,
) -> Response:
    """Accept one validated notice: 202 with the receipt once it is durable (see the route).

    ``raw`` is the JSON the body was parsed from, when the caller has it at hand.
    """
    _limit(request, principal, 1)
    ingestor: Ingestor = request.app.state.ingestor
    try:
        prepared = ingestor.prepare(body, principal, raw or await request.body(), idempotency_key)
    except InvalidFieldError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *exc.loc), "msg": exc.message, "type": exc.kind}]
        ) from None
    stored = await _accept(request, prepared, idempotency_key)
    if stored.conflict:
        raise ApiError(409, KEY_REUSED, _key_reused_message(stored.report_id))
    status_url = _status_url(stored.report_id)
    receipt = ReportAccepted(
        report_id=stored.report_id,
        status="held" if stored.status == "held" else "received",
        status_url=status_url,
        received_at=stored.received_at,
        duplicate=stored.duplicate,
        notice=None if stored.duplicate else prepared.notice,
    )
    # Serialised here, once: the declared response model is for the document.
    return Response(
        receipt.model_dump_json().encode(),
        status_code=202,
        media_type="application/json",
        headers={"Location": status_url},
    )


@router.post(
    "/reports:batch",
    response_model=BatchResult,
    summary="Submit many notices",
    description="Each item is a notice plus an optional item_key (its idempotency key). Items "
    "are validated and stored one by one: the result lists each item's own status, report id "
    "or errors, and one bad item does not sink the others. An item_key already used with a "
    "different notice rejects that item with http_status 409 (type idempotency_key_reused). "
    "The batch counts as one request per item against the rate limit.",
    responses=_WRITE_RESPONSES,
)
async def create_reports_batch(
    body: BatchCreate, request: Request, principal: Principal = require_scope("reports:write")
) -> BatchResult:
    settings: IntakeSettings = request.app.state.settings
    if len(body.reports) > settings.batch_max_items:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "reports"),
                    "msg": f"at most {settings.batch_max_items} items per batch",
                    "type": "too_long",
                }
            ]
        )
    _limit(request, principal, len(body.reports))
    ingestor: Ingestor = request.app.state.ingestor
    results: list[BatchItemResult] = []
    pending: list[tuple[int, str | None, Prepared]] = []
    for index, raw in enumerate(body.reports):
        item = dict(raw)
        key = item.pop("item_key", None)
        errors: list[FieldError] = []
        if key is not None and not (isinstance(key, str) and 0 < len(key) <= 256):
            errors.append(FieldError(field="item_key", message="1 to 256 chars", type="string"))
            key = None
        try:
            prepared = ingestor.prepare(
                ReportCreate.model_validate(item), principal, idempotency_key=key
            )
        except ValidationError as exc:
            errors.extend(
                FieldError(
                    field=".".join(str(p) for p in e["loc"]), message=e["msg"], type=e["type"]
                )
                for e in exc.errors()
            )
        except InvalidFieldError as exc:
            errors.append(
                FieldError(field=".".join(map(str, exc.loc)), message=exc.message, type=exc.kind)
            )
        if errors:
            results.append(
                BatchItemResult(
                    index=index, item_key=key, status="rejected", http_status=422, errors=errors
                )
            )
        else:
            pending.append((index, key, prepared))
    stored = await asyncio.gather(*(_accept(request, p, k) for _, k, p in pending))
    accepted = 0
    for (index, key, prepared), s in zip(pending, stored, strict=True):
        if s.conflict:
            results.append(
                BatchItemResult(
                    index=index,
                    item_key=key,
                    status="rejected",
                    http_status=409,
                    errors=[
                        FieldError(
                            field="item_key",
                            message=_key_reused_message(s.report_id),
                            type=KEY_REUSED,
                        )
                    ],
                )
            )
            continue
        accepted += 1
        results.append(
            BatchItemResult(
                index=index,
                item_key=key,
                status="held" if s.status == "held" else "received",
                http_status=202,
                duplicate=s.duplicate,
                report_id=s.report_id,
                status_url=_status_url(s.report_id),
                notice=None if s.duplicate else prepared.notice,
            )
        )
    results.sort(key=lambda r: r.index)
    return BatchResult(accepted=accepted, rejected=len(results) - accepted, results=results)


@router.get(
    "/reports/{report_id}",
    response_model=ReportRead,
    summary="Where a report is",
    description="received → classified → routed or in_review (with its queue) → decided, "
    "never backwards; once decided, the outcome the notifier may be told (DSA Art. 16(5)).",
    responses={**AUTH_RESPONSES, 404: {"description": "No such report for this client"}},
)
async def get_report(
    report_id: uuid.UUID, request: Request, principal: Principal = require_scope("reports:read")
) -> ReportRead:
    r, p = reports, report_progress
    async with request.app.state.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    r.c.report_id,
                    r.c.status,
                    r.c.received_at,
                    r.c.source,
                    r.c.policy_area,
                    r.c.dsa_category,
                    r.c.subject_type,
                    r.c.subject_id,
                    r.c.trusted_flagger_id,
                    r.c.standing,
                    r.c.held_until,
                    p.c.status.label("progress"),
                    p.c.queue,
                    p.c.outcome,
                    p.c.updated_at,
                )
                .select_from(r.outerjoin(p, p.c.report_id == r.c.report_id))
                .where(r.c.report_id == report_id, r.c.client_id == principal.client_id)
            )
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "no such report")
    settings: IntakeSettings = request.app.state.settings
    status = row.status if row.status == "held" or row.progress is None else row.progress
    notice = None
    if row.standing == "held" and row.held_until is not None:
        notice = hold_text(row.held_until)
    elif row.standing == "warned":
        notice = WARNING_TEXT
    return ReportRead(
        report_id=row.report_id,
        status=status,
        received_at=row.received_at,
        updated_at=row.updated_at or row.received_at,
        source=row.source,
        policy_area=row.policy_area,
        dsa_category=row.dsa_category,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        trusted_flagger=row.trusted_flagger_id is not None,
        queue=row.queue if status == "in_review" else None,
        notice=notice,
        outcome=_outcome(row.outcome, settings.appeal_window_days) if status == "decided" else None,
    )


def _outcome(raw: dict[str, Any] | None, appeal_days: int) -> OutcomeRead | None:
    if raw is None:
        return None
    decided_at = datetime.fromisoformat(raw["decided_at"])
    until = decided_at + timedelta(days=appeal_days)
    return OutcomeRead(
        outcome=raw["outcome"],
        action=raw["action"],
        policy_area=raw["policy_area"],
        automated=raw["automated"],
        decided_at=decided_at,
        redress=f"You may appeal this decision, free of charge, until {until:%Y-%m-%d}, by "
        "replying to the decision message or through the platform's appeal form; you may also "
        "use an out-of-court dispute settlement body or the courts.",
        appeal_until=until,
    )


@router.get(
    "/misuse/summary",
    response_model=MisuseSummary,
    tags=["transparency"],
    summary="DSA Art. 23 figures for the transparency report",
    description="Warnings and suspensions of reporters, notices held while suspended, and "
    "child-safety notices processed despite a suspension, for the calling client. The default "
    "period is the last 365 days; a period whose start is not before its end is empty (every "
    "count 0).",
    responses={**AUTH_RESPONSES, 422: {"description": "Invalid period"}},
)
async def misuse_summary(
    request: Request,
    principal: Principal = require_scope("reports:read"),
    since: Annotated[
        IsoDatetime | None, Query(description="Start (included), RFC 3339 with an offset")
    ] = None,
    until: Annotated[
        IsoDatetime | None, Query(description="End (excluded), RFC 3339 with an offset")
    ] = None,
) -> MisuseSummary:
    end = until or utcnow()
    start = since or end - timedelta(days=365)
    m, r = misuse_events, reports
    async with request.app.state.runtime.engine.connect() as conn:
        measures = dict(
            (
                await conn.execute(
                    select(m.c.kind, func.count())
                    .where(m.c.client_id == principal.client_id, m.c.at >= start, m.c.at < end)
                    .group_by(m.c.kind)
                )
            ).all()
        )
        standing = dict(
            (
                await conn.execute(
                    select(r.c.standing, func.count())
                    .where(
                        r.c.client_id == principal.client_id,
                        r.c.standing.in_(["held", "exempt"]),
                        r.c.received_at >= start,
                        r.c.received_at < end,
                    )
                    .group_by(r.c.standing)
                )
            ).all()
        )
    return MisuseSummary(
        client_id=principal.client_id,
        since=start,
        until=end,
        warnings=measures.get("warning", 0),
        suspensions=measures.get("suspension", 0),
        held_notices=standing.get("held", 0),
        exempt_child_safety_notices=standing.get("exempt", 0),
    )
