"""Enforcement's data access: keyword-only query functions over one connection.

The handlers read their inputs here, hand them to the planner and write its plan here (bulk
rows go through :func:`services.enforcement.bulk.copy_rows`); the API's routes, appeals, the
ledger sweep, the statement submitter and the audit chain read and write here too. The caller
owns the transaction: every function runs in the connection it is given.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, func, or_, select, text, true
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.enforcement.models import (
    actions,
    appeals,
    audit_checkpoints,
    audit_log,
    decisions,
    statements,
    strikes,
)

if TYPE_CHECKING:  # plan imports audit, which reads and writes here
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


# -- appeals ------------------------------------------------------------------------------


async def decision(conn: AsyncConnection, *, decision_id: uuid.UUID) -> Row[Any] | None:
    """One decision's row (any client's), or None."""
    result = await conn.execute(select(decisions).where(decisions.c.decision_id == decision_id))
    return result.first()


async def insert_appeal(conn: AsyncConnection, *, values: Mapping[str, Any]) -> bool:
    """Record an appeal; False when the same party already appealed the decision."""
    result = await conn.execute(
        insert(appeals).values(**values).on_conflict_do_nothing().returning(appeals.c.appeal_id)
    )
    return result.first() is not None


_APPEAL_STATS = text(
    """
    WITH d AS (
        SELECT policy_area, count(*) AS decisions
          FROM enforcement.decisions
         WHERE appeal_id IS NULL AND (CAST(:client AS text) IS NULL OR client_id = :client)
         GROUP BY policy_area
    ), a AS (
        SELECT policy_area,
               count(*) AS appeals,
               count(*) FILTER (WHERE status <> 'open') AS decided,
               count(*) FILTER (WHERE status = 'overturned') AS overturned,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM decided_at - lodged_at)
               ) FILTER (WHERE status <> 'open') AS median_s
          FROM enforcement.appeals
         WHERE CAST(:client AS text) IS NULL OR client_id = :client
         GROUP BY policy_area
    )
    SELECT d.policy_area, d.decisions, coalesce(a.appeals, 0) AS appeals,
           coalesce(a.decided, 0) AS decided, coalesce(a.overturned, 0) AS overturned,
           a.median_s
      FROM d LEFT JOIN a USING (policy_area)
     ORDER BY d.policy_area
    """
)


async def appeal_counts(conn: AsyncConnection, *, client: str | None) -> list[dict[str, Any]]:
    """Per policy area of one client's decisions (every client's when None): decisions,
    appeals, decided, overturned and the median decision seconds (``median_s``)."""
    rows = await conn.execute(_APPEAL_STATS, {"client": client})
    return [dict(r) for r in rows.mappings()]


# -- the ledger sweep ---------------------------------------------------------------------


async def overdue_actions(
    conn: AsyncConnection, *, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """Issued actions whose confirmation is overdue, oldest first, held (``SKIP LOCKED``) to
    the end of the transaction."""
    rows = await conn.execute(
        select(actions)
        .where(actions.c.status == "issued", actions.c.next_attempt_at <= now)
        .order_by(actions.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in rows.mappings()]


async def reschedule_actions(conn: AsyncConnection, *, retries: list[dict[str, Any]]) -> None:
    """Count a re-issue of each action: ``{"b_id", "b_attempts", "b_next"}`` per action."""
    if retries:
        await conn.execute(
            actions.update()
            .where(actions.c.action_id == bindparam("b_id"))
            .values(attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next")),
            retries,
        )


async def fail_actions(
    conn: AsyncConnection, *, failures: list[dict[str, Any]], now: datetime
) -> None:
    """Mark actions failed: ``{"b_id", "b_detail"}`` per action."""
    if failures:
        await conn.execute(
            actions.update()
            .where(actions.c.action_id == bindparam("b_id"))
            .values(
                status="failed", failed_at=now, next_attempt_at=None, detail=bindparam("b_detail")
            ),
            failures,
        )


# -- statements of reasons ----------------------------------------------------------------


async def pending_statements(
    conn: AsyncConnection, *, now: datetime, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """(puid, statement) of pending statements due now, oldest first, held (``SKIP LOCKED``)
    to the end of the transaction so that replicas never send the same rows."""
    rows = await conn.execute(
        select(statements.c.puid, statements.c.statement)
        .where(
            statements.c.submission_status == "pending",
            or_(statements.c.next_attempt_at.is_(None), statements.c.next_attempt_at <= now),
        )
        .order_by(statements.c.created_at, statements.c.puid)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(puid, statement) for puid, statement in rows.all()]


async def record_submissions(conn: AsyncConnection, *, updates: list[dict[str, Any]]) -> None:
    """What the API said of each statement: ``{"b_puid", "b_status", "b_error", "b_at"}``."""
    if updates:
        await conn.execute(
            statements.update()
            .where(statements.c.puid == bindparam("b_puid"))
            .values(
                submission_status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                submitted_at=bindparam("b_at"),
                attempts=statements.c.attempts + 1,
            ),
            updates,
        )


async def stream_statements(
    conn: AsyncConnection, *, status: str | None, since: datetime | None
) -> AsyncIterator[dict[str, Any]]:
    """Every statement (of ``status``, created since ``since``), oldest first, streamed."""
    query = select(statements.c.statement).order_by(statements.c.created_at, statements.c.puid)
    if status is not None:
        query = query.where(statements.c.submission_status == status)
    if since is not None:
        query = query.where(statements.c.created_at >= since)
    result = await conn.stream(query.execution_options(yield_per=1000))
    async for (statement,) in result:
        yield statement


# -- the audit chain ----------------------------------------------------------------------


async def advisory_lock(conn: AsyncConnection, *, key: int) -> None:
    """Take a transaction-scoped advisory lock (held until the transaction ends)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


async def audit_head(conn: AsyncConnection) -> tuple[int, str] | None:
    """The chain's last row: (seq, hash), or None when the chain is empty."""
    head = (
        await conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        )
    ).first()
    return (head.seq, head.hash) if head is not None else None


async def audit_rows(conn: AsyncConnection, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` audit rows after ``seq``, every client's, in chain order."""
    rows = await conn.execute(
        select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    )
    return [dict(r) for r in rows.mappings()]


async def insert_checkpoint(
    conn: AsyncConnection, *, head_seq: int, head_hash: str, at: datetime
) -> bool:
    """Store a checkpoint; False when one for this seq is already stored."""
    stored = await conn.execute(
        insert(audit_checkpoints)
        .values(head_seq=head_seq, head_hash=head_hash, created_at=at)
        .on_conflict_do_nothing()
        .returning(audit_checkpoints.c.head_seq)
    )
    return stored.first() is not None


async def checkpoints(
    conn: AsyncConnection, *, after: int = 0, limit: int | None = None
) -> list[tuple[int, str, datetime]]:
    """Stored checkpoints after ``after`` (all when ``limit`` is None): (head seq, head hash,
    created_at), by seq."""
    rows = await conn.execute(
        select(
            audit_checkpoints.c.head_seq,
            audit_checkpoints.c.head_hash,
            audit_checkpoints.c.created_at,
        )
        .where(audit_checkpoints.c.head_seq > after)
        .order_by(audit_checkpoints.c.head_seq)
        .limit(limit)
    )
    return [(seq, digest, at) for seq, digest, at in rows.all()]
