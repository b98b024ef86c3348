"""The review API: reviewers pull cases over HTTP; operators read agreement figures.

Every route needs an API key (``Authorization: Bearer``); the key's principal is the reviewer id.
Queue routes need the ``review:<queue>`` scope (``review:*`` covers all); figures need ``ops:read``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from services.router import qa
from services.router.review import ReviewDesk
from services.router.schemas import (
    AgreementRow,
    CaseRead,
    DecisionCreate,
    DecisionResult,
    EscalationCreate,
    NoteCreate,
    ShadowAgreement,
)
from shared.apikeys import AUTH_RESPONSES, Principal, authenticate, require_scope

router = APIRouter(prefix="/v1", tags=["review"], responses=AUTH_RESPONSES)

Reviewer = Annotated[Principal, Depends(authenticate)]
QueueName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_CASE_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such case"},
    409: {"description": "The reviewer does not hold the case, or it is already decided"},
    503: {"description": "The broker is unavailable; retry (decisions are idempotent)"},
}


def _desk(request: Request) -> ReviewDesk:
    return request.app.state.desk  # type: ignore[no-any-return]


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.runtime.engine  # type: ignore[no-any-return]


# What the routes use of the running service, as typed dependencies.
Desk = Annotated[ReviewDesk, Depends(_desk)]
Engine = Annotated[AsyncEngine, Depends(_engine)]


@router.post(
    "/queues/{queue}/claim",
    summary="Lease the next case of a queue (earliest deadline first, ties by priority)",
    response_model=CaseRead,
    responses={204: {"description": "The queue has no claimable case"}},
)
async def claim(queue: QueueName, principal: Reviewer, desk: Desk) -> CaseRead | Response:
    case = await desk.claim(queue, principal)
    return case if case is not None else Response(status_code=204)


@router.get("/cases/{case_id}", summary="Read a case", responses=_CASE_ERRORS)
async def read_case(case_id: uuid.UUID, principal: Reviewer, desk: Desk) -> CaseRead:
    return await desk.get(case_id, principal)


@router.post(
    "/cases/{case_id}/release",
    summary="Give a held case back to its queue",
    status_code=204,
    responses=_CASE_ERRORS,
)
async def release(case_id: uuid.UUID, principal: Reviewer, desk: Desk) -> None:
    await desk.release(case_id, principal)


@router.post(
    "/cases/{case_id}/escalate",
    summary="Move a held case to another queue, with a reason",
    description="Only to a queue the routing policy routes to, and only to one cleared for "
    "cases as grave as the case's area (the gravest tier among the areas routed to the queue; "
    "the QA and appeals queues take every tier). Anything else is a 422 naming body.queue.",
    responses={
        **_CASE_ERRORS,
        422: {"description": "Invalid field, an unknown queue, or a queue for less grave cases"},
    },
)
async def escalate(
    case_id: uuid.UUID, body: EscalationCreate, principal: Reviewer, desk: Desk
) -> CaseRead:
    return await desk.escalate(case_id, principal, body)


@router.post(
    "/cases/{case_id}/notes",
    summary="Add a note to a held case",
    status_code=204,
    responses=_CASE_ERRORS,
)
async def add_note(case_id: uuid.UUID, body: NoteCreate, principal: Reviewer, desk: Desk) -> None:
    await desk.note(case_id, principal, body.note)


@router.post(
    "/cases/{case_id}/decision",
    summary="Decide a held case (four-eyes areas and actions then await a second reviewer)",
    responses=_CASE_ERRORS,
)
async def decide(
    case_id: uuid.UUID, body: DecisionCreate, principal: Reviewer, desk: Desk
) -> DecisionResult:
    return await desk.decide(case_id, principal, body)


@router.post(
    "/cases/{case_id}/confirmation",
    summary="Confirm another reviewer's decision on a held case (four-eyes)",
    responses=_CASE_ERRORS,
)
async def confirm(case_id: uuid.UUID, principal: Reviewer, desk: Desk) -> DecisionResult:
    return await desk.confirm(case_id, principal)


@router.get("/qa/agreement", summary="QA agreement with the original decisions")
async def qa_agreement(
    _: Annotated[Principal, require_scope("ops:read")],
    engine: Engine,
    by: Annotated[Literal["reviewer", "rule", "policy_version", "model"], Query()] = "reviewer",
) -> list[AgreementRow]:
    return await qa.qa_agreement(engine, by)


@router.get("/shadow/agreement", summary="Shadow policies' agreement with the live policy")
async def shadow_agreement(
    _: Annotated[Principal, require_scope("ops:read")], engine: Engine
) -> list[ShadowAgreement]:
    return await qa.shadow_agreement(engine)
