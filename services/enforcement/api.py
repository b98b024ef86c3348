"""Enforcement's HTTP routes: actions and confirmations, strikes, appeals, the audit trail."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.enforcement import appeals as appeals_module
from services.enforcement import audit, repository
from services.enforcement.confirmations import Confirmation, confirm
from services.enforcement.schemas import (
    ActionList,
    ActionRead,
    AppealAccepted,
    AppealAreaStats,
    AppealCreate,
    AppealStats,
    AuditPage,
    AuditRecord,
    CheckpointList,
    CheckpointRead,
    ConfirmationCreate,
    ErrorBody,
    StrikeList,
    StrikeRead,
    VerifyRead,
)
from services.enforcement.settings import EnforcementSettings
from shared.apikeys import Principal, require_scope
from shared.errors import ApiError
from shared.events import ActionStatus, utcnow
from shared.http import IsoDatetime
from shared.kafka.producer import EventProducer

# Reads across clients: without it a key sees only its own client's records.
READ_ALL = "enforcement:read_all"
SCOPES = ("actions:read", "actions:confirm", "appeals:write", "audit:read", "stats:read", READ_ALL)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


router = APIRouter(
    prefix="/v1",
    tags=["enforcement"],
    responses={
        401: _error("Missing, unknown or revoked API key"),
        403: _error("The key lacks the scope"),
        422: _error("Invalid parameters or body (`validation_error`, naming the field)"),
    },
)
Responses = dict[int | str, dict[str, Any]]
TOO_LARGE: Responses = {413: _error("Body over the size limit")}
NOT_OWNED = "or one that belongs to another client"
SubjectId = Annotated[str, Path(min_length=1, max_length=256)]


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.runtime.engine  # type: ignore[no-any-return]


def _producer(request: Request) -> EventProducer:
    return request.app.state.runtime.producer  # type: ignore[no-any-return]


def _settings(request: Request) -> EnforcementSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


# What the routes use of the running service, as typed dependencies.
Engine = Annotated[AsyncEngine, Depends(_engine)]
Producer = Annotated[EventProducer, Depends(_producer)]
Settings = Annotated[EnforcementSettings, Depends(_settings)]


def readable(principal: Principal) -> str | None:
    """The client whose records a key reads: its own, or every client's (None) with ``READ_ALL``."""
    return None if principal.has(READ_ALL) else principal.client_id


def require_read_all(principal: Principal, what: str) -> None:
    if not principal.has(READ_ALL):
        raise ApiError(
            403,
            "forbidden",
            f"{what} covers every client: the API key lacks the {READ_ALL!r} scope",
        )


@router.get(
    "/subjects/{subject_id}/actions",
    response_model=ActionList,
    summary="Actions taken on a subject, newest first",
    description="Only the caller's client's actions, unless the key holds `enforcement:read_all`.",
)
async def subject_actions(
    subject_id: SubjectId, engine: Engine, principal: Principal = require_scope("actions:read")
) -> ActionList:
    async with engine.connect() as conn:
        rows = await repository.subject_actions(
            conn, subject_id=subject_id, client=readable(principal)
        )
    return ActionList(items=[ActionRead.model_validate(r) for r in rows])


@router.get(
    "/actions/{action_id}",
    response_model=ActionRead,
    summary="One action and its state",
    responses={404: _error(f"Unknown action, {NOT_OWNED}")},
)
async def get_action(
    action_id: uuid.UUID, engine: Engine, principal: Principal = require_scope("actions:read")
) -> ActionRead:
    async with engine.connect() as conn:
        row = await repository.action(conn, action_id=action_id, client=readable(principal))
    if row is None:
        raise ApiError(404, "not_found", f"no action {action_id}")
    return ActionRead.model_validate(row)


@router.post(
    "/actions/{action_id}/confirmations",
    response_model=ActionRead,
    summary="Confirm that an action was applied (or could not be)",
    description=(
        "Moves an issued action to `applied` or `failed`. Repeating a confirmation, or "
        "confirming an action already settled, changes nothing and returns its state. Only the "
        "client that owns the action can confirm it, whatever scopes the key holds."
    ),
    responses={404: _error(f"Unknown action, {NOT_OWNED}"), **TOO_LARGE},
)
async def confirm_action(
    action_id: uuid.UUID,
    body: ConfirmationCreate,
    engine: Engine,
    settings: Settings,
    principal: Principal = require_scope("actions:confirm"),
) -> ActionRead:
    async with engine.begin() as conn:
        # Only the owner confirms: another client's action is unknown to this key.
        if await repository.action(conn, action_id=action_id, client=principal.client_id) is None:
            raise ApiError(404, "not_found", f"no action {action_id}")
        await confirm(
            conn,
            [
                Confirmation(
                    action_id, ActionStatus(body.status), body.detail, utcnow(), principal.client_id
                )
            ],
            service=settings.service_name,
        )
        row = await repository.action(conn, action_id=action_id, client=principal.client_id)
    assert row is not None  # the chain lock held since the confirmation: nothing deletes it
    return ActionRead.model_validate(row)


@router.get(
    "/accounts/{account_id}/strikes",
    response_model=StrikeList,
    summary="An account's strikes and its active strike weight",
    description=(
        "Only the strikes the caller's client's decisions gave (the ladder counts those), unless "
        "the key holds `enforcement:read_all`."
    ),
)
async def account_strikes(
    account_id: SubjectId, engine: Engine, principal: Principal = require_scope("actions:read")
) -> StrikeList:
    now = utcnow()
    async with engine.connect() as conn:
        rows = await repository.account_strikes(
            conn, account_id=account_id, client=readable(principal)
        )
    items = [StrikeRead.model_validate(r) for r in rows]
    active = sum(s.weight for s in items if s.reversed_at is None and s.expires_at > now)
    return StrikeList(account_id=account_id, active_weight=active, items=items)


@router.post(
    "/appeals",
    response_model=AppealAccepted,
    status_code=201,
    summary="Lodge an appeal against a decision (DSA Art. 20)",
    description=(
        "For the affected user or the notifier, against any decision of the caller's client "
        "including a decision not to act, within six months of its communication. Later appeals "
        "get 422 `appeal_window_closed` naming the window's end; an appeal against the decision "
        "of an appeal 422 `not_appealable`; a second appeal by the same party 409."
    ),
    responses={
        404: _error(f"Unknown decision, {NOT_OWNED}"),
        409: _error("Already appealed by this party (`appeal_exists`)"),
        422: _error("`validation_error`, `appeal_window_closed` or `not_appealable`"),
        **TOO_LARGE,
    },
)
async def lodge_appeal(
    body: AppealCreate,
    engine: Engine,
    producer: Producer,
    settings: Settings,
    principal: Principal = require_scope("appeals:write"),
) -> AppealAccepted:
    lodged = await appeals_module.lodge(
        engine,
        producer,
        decision_id=body.decision_id,
        appellant=body.appellant,
        statement=body.statement,
        lodged_by=principal.client_id,
        window_months=settings.appeal_window_months,
        service=settings.service_name,
    )
    return AppealAccepted(
        appeal_id=lodged.appeal_id,
        decision_id=lodged.decision_id,
        appellant=lodged.appellant,
        lodged_at=lodged.lodged_at,
        window_ends_at=lodged.window_ends_at,
    )


@router.get(
    "/stats/appeals",
    response_model=AppealStats,
    summary="Appeal rate, overturn rate and median appeal decision time per policy area",
    description=(
        "Of the caller's client's decisions; of every client's with `enforcement:read_all`."
    ),
)
async def appeal_stats(
    engine: Engine, principal: Principal = require_scope("stats:read")
) -> AppealStats:
    rows = await appeals_module.stats(engine, readable(principal))
    return AppealStats(items=[AppealAreaStats.model_validate(r) for r in rows])


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="The audit trail, oldest first",
    description=(
        "The caller's client's records, unless the key holds `enforcement:read_all`. `since` and "
        "`until` need a time zone offset, and `since` must not be after `until` (else 422)."
    ),
)
async def audit_trail(
    engine: Engine,
    *,
    principal: Principal = require_scope("audit:read"),
    subject: Annotated[str | None, Query(max_length=256)] = None,
    report: uuid.UUID | None = None,
    case: uuid.UUID | None = None,
    decision: uuid.UUID | None = None,
    actor: Annotated[
        str | None, Query(max_length=256, description="Reviewer, client or policy id")
    ] = None,
    since: Annotated[
        IsoDatetime | None,
        Query(description="Recorded at or after (RFC 3339 with offset); not after `until`"),
    ] = None,
    until: Annotated[
        IsoDatetime | None, Query(description="Recorded before (RFC 3339 with offset)")
    ] = None,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return records after this seq")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    if since is not None and until is not None and since > until:
        raise _invalid("since", "must not be after until", "value_error")
    equal = {
        column: value
        for column, value in (
            ("subject_id", subject),
            ("report_id", report),
            ("case_id", case),
            ("decision_id", decision),
            ("actor_id", actor),
        )
        if value is not None
    }
    async with engine.connect() as conn:
        rows = await repository.audit_page(
            conn,
            client=readable(principal),
            after=after,
            limit=limit,
            equal=equal,
            since=since,
            until=until,
        )
    items = [AuditRecord.model_validate(r) for r in rows]
    return AuditPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


def _invalid(name: str, message: str, kind: str) -> RequestValidationError:
    """A 422 naming the query parameter, in the shape of every validation error."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": kind}])


@router.get(
    "/audit/verify",
    response_model=VerifyRead,
    summary="Walk the hash chain; name the first broken record",
    description=(
        "Checks every row's hash and link, that the chain reaches the newest checkpoint, and, "
        "when `TNS_AUDIT_CHECKPOINT_DIR` is set, the signed exported checkpoints. The chain is "
        "every client's: the key needs `audit:read` and `enforcement:read_all`."
    ),
)
async def audit_verify(
    engine: Engine, settings: Settings, principal: Principal = require_scope("audit:read")
) -> VerifyRead:
    require_read_all(principal, "the chain")
    exported: list[audit.Checkpoint] = []
    if settings.checkpoint_export is not None:
        try:
            exported = await asyncio.to_thread(audit.read_exported, *settings.checkpoint_export)
        except audit.ExportError as exc:
            return VerifyRead(
                ok=False,
                rows_checked=0,
                head_seq=0,
                head_hash=audit.GENESIS,
                first_broken_seq=None,
                reason=str(exc),
            )
    result = await audit.verify(engine, exported=exported)
    return VerifyRead(**dataclasses.asdict(result))


@router.get(
    "/audit/checkpoints",
    response_model=CheckpointList,
    summary="Stored checkpoints of the chain (head seq and hash at a time), for export",
    description="Of every client's chain: the key needs `audit:read` and `enforcement:read_all`.",
)
async def audit_checkpoints(
    engine: Engine,
    principal: Principal = require_scope("audit:read"),
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> CheckpointList:
    require_read_all(principal, "the chain")
    async with engine.connect() as conn:
        found = await audit.checkpoints(conn, after=after, limit=limit)
    return CheckpointList(items=[CheckpointRead(**dataclasses.asdict(c)) for c in found])
