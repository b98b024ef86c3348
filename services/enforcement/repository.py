"""Enforcement's data access: keyword-only query functions over one connection.

The handlers read their inputs here, hand them to the planner and write its plan here (bulk
rows go through :func:`services.enforcement.bulk.copy_rows`); the API's routes read here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, func, select, text, true
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.enforcement.models import actions, appeals, audit_log, decisions, strikes
from services.enforcement.plan import Account

# One array parameter instead of an IN list of the batch's ids: the statement compiles once.
_UUIDS = ARRAY(UUID(as_uuid=True))

StrikeRow = tuple[uuid.UUID, str | None, str, int, datetime]
"""A strike as the planner takes it: (decision id, client id, account id, weight, expires_at)."""


async def known_decisions(conn: AsyncConnection, *, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` already recorded (a replayed decision is skipped)."""
    result = await conn.execute(
        select(decisions.c.decision_id).where(
            decisions.c.decision_id == any_(bindparam("ids", type_=_UUIDS))
        ),
        {"ids": ids},
    )
    return set(result.scalars())


async def lodged_appeals(
    conn: AsyncConnection, *, appeal_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str | None, datetime]]:
    """The owning client and the lodging time of each lodged appeal among ``appeal_ids``."""
    rows = await conn.execute(
        select(appeals.c.appeal_id, appeals.c.client_id, appeals.c.lodged_at).where(
            appeals.c.appeal_id.in_(appeal_ids)
        )
    )
    return {appeal_id: (client, lodged_at) for appeal_id, client, lodged_at in rows.all()}


async def active_weights(
    conn: AsyncConnection, *, accounts: set[Account], now: datetime
) -> dict[Account, int]:
    """Active strike weight per (client, account): a client's ladder counts its strikes only."""
    rows = await conn.execute(
        select(strikes.c.client_id, strikes.c.account_id, func.sum(strikes.c.weight))
        .where(
            strikes.c.account_id.in_({a for _, a in accounts}),
            strikes.c.expires_at > now,
            strikes.c.reversed_at.is_(None),
        )
        .group_by(strikes.c.client_id, strikes.c.account_id)
    )
    weights = dict.fromkeys(accounts, 0)
    weights.update({(c, a): int(w) for c, a, w in rows if (c, a) in weights})
    return weights


async def live_actions(
    conn: AsyncConnection, *, decision_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The ledger rows of these decisions that are not reversed, per decision."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    rows = await conn.execute(
        select(actions).where(
            actions.c.decision_id.in_(decision_ids), actions.c.status != "reversed"
        )
    )
    for r in rows.mappings():
        out.setdefault(r["decision_id"], []).append(dict(r))
    return out


async def active_strikes_of(
    conn: AsyncConnection, *, decision_ids: list[uuid.UUID]
) -> list[StrikeRow]:
    """The strikes these decisions recorded that are not reversed yet."""
    rows = await conn.execute(
        select(
            strikes.c.decision_id,
            strikes.c.client_id,
            strikes.c.account_id,
            strikes.c.weight,
            strikes.c.expires_at,
        ).where(strikes.c.decision_id.in_(decision_ids), strikes.c.reversed_at.is_(None))
    )
    return [(d, c, a, w, e) for d, c, a, w, e in rows.all()]


async def settle_appeals(
    conn: AsyncConnection,
    *,
    updates: list[dict[str, Any]],
    reversed_action_ids: list[uuid.UUID],
    overturned_decisions: list[uuid.UUID],
    now: datetime,
) -> None:
    """Record the appeals' results, reverse the overturned decisions' actions and strikes."""
    if updates:
        await conn.execute(
            appeals.update()
            .where(appeals.c.appeal_id == bindparam("a_id"))
            .values(
                status=bindparam("a_status"),
                appeal_decision_id=bindparam("a_decision"),
                decided_at=bindparam("a_at"),
                decided_by=bindparam("a_by"),
            ),
            updates,
        )
    if reversed_action_ids:
        await conn.execute(
            actions.update()
            .where(actions.c.action_id.in_(reversed_action_ids))
            .values(status="reversed", reversed_at=now)
        )
    if overturned_decisions:
        await conn.execute(
            strikes.update()
            .where(strikes.c.decision_id.in_(overturned_decisions), strikes.c.reversed_at.is_(None))
            .values(reversed_at=now)
        )


_CONFIRM = text(
    """
    UPDATE enforcement.actions AS a
       SET status = v.status,
           detail = NULLIF(v.detail, ''),
           applied_at = CASE WHEN v.status = 'applied' THEN v.at END,
           failed_at = CASE WHEN v.status = 'failed' THEN v.at END,
           next_attempt_at = NULL
      FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:details AS text[]),
                  CAST(:ats AS timestamptz[]), CAST(:clients AS text[]))
           AS v(id, status, detail, at, client)
     WHERE a.action_id = v.id AND a.client_id = v.client AND a.status IN ('requested', 'issued')
 RETURNING a.action_id, a.decision_id, a.report_id, a.subject_id, a.action, a.status,
           a.client_id
    """
)


async def confirm_actions(
    conn: AsyncConnection,
    *,
    ids: list[uuid.UUID],
    statuses: list[str],
    details: list[str],
    ats: list[datetime],
    clients: list[str],
) -> list[Row[Any]]:
    """Move the owner's issued (or requested) actions to the given state; returns those moved."""
    result = await conn.execute(
        _CONFIRM,
        {"ids": ids, "statuses": statuses, "details": details, "ats": ats, "clients": clients},
    )
    return list(result.all())


async def action_owners(
    conn: AsyncConnection, *, action_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The owning client of each known action among ``action_ids``."""
    rows = await conn.execute(
        select(actions.c.action_id, actions.c.client_id).where(
            actions.c.action_id == any_(bindparam("ids", type_=_UUIDS))
        ),
        {"ids": list(action_ids)},
    )
    return {action_id: client for action_id, client in rows.all()}


# -- the API's reads ----------------------------------------------------------------------
# ``client`` limits a read to one client's records; None reads every client's.


def _owned(column: Any, client: str | None) -> ColumnElement[bool]:
    return true() if client is None else column == client


async def subject_actions(
    conn: AsyncConnection, *, subject_id: str, client: str | None, limit: int = 500
) -> list[dict[str, Any]]:
    """A subject's actions, newest first."""
    rows = await conn.execute(
        select(actions)
        .where(actions.c.subject_id == subject_id, _owned(actions.c.client_id, client))
        .order_by(actions.c.issued_at.desc(), actions.c.action)
        .limit(limit)
    )
    return [dict(r) for r in rows.mappings()]


async def action(
    conn: AsyncConnection, *, action_id: uuid.UUID, client: str | None
) -> dict[str, Any] | None:
    """One action's ledger row, or None when unknown (or another client's)."""
    row = (
        (
            await conn.execute(
                select(actions).where(
                    actions.c.action_id == action_id, _owned(actions.c.client_id, client)
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


async def account_strikes(
    conn: AsyncConnection, *, account_id: str, client: str | None
) -> list[dict[str, Any]]:
    """An account's strikes, oldest first."""
    rows = await conn.execute(
        select(strikes)
        .where(strikes.c.account_id == account_id, _owned(strikes.c.client_id, client))
        .order_by(strikes.c.issued_at)
    )
    return [dict(r) for r in rows.mappings()]


async def audit_page(
    conn: AsyncConnection,
    *,
    client: str | None,
    after: int,
    limit: int,
    equal: Mapping[str, object],
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """Audit records after ``seq``, oldest first; ``equal`` maps columns to required values."""
    query = select(audit_log).where(audit_log.c.seq > after, _owned(audit_log.c.client_id, client))
    for name, value in equal.items():
        query = query.where(audit_log.c[name] == value)
    if since is not None:
        query = query.where(audit_log.c.recorded_at >= since)
    if until is not None:
        query = query.where(audit_log.c.recorded_at < until)
    rows = await conn.execute(query.order_by(audit_log.c.seq).limit(limit))
    return [dict(r) for r in rows.mappings()]
