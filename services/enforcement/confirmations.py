"""Confirmations: a product client's word that an issued action was applied, or failed.

Used by the confirmations topic's handler and by ``POST /v1/actions/{action_id}/confirmations``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.enforcement import audit, repository
from services.enforcement.audit import AuditEntry
from services.enforcement.metrics import ACTIONS, CONFIRMATIONS_REFUSED
from shared.events import ActionStatus, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A product client's word on one action: applied, or could not be applied."""

    action_id: uuid.UUID
    status: ActionStatus
    detail: str
    at: datetime
    client_id: str


async def confirm(
    conn: AsyncConnection, confirmations: list[Confirmation], *, service: str
) -> dict[uuid.UUID, str]:
    """Move issued actions to applied or failed; returns the ids that moved, with the state.

    A confirmation for an action already settled (or unknown) changes nothing: clients retry.
    Only the client that owns an action can confirm it; another client's confirmation changes
    nothing and is counted (``tns_enforcement_confirmations_refused_total``).
    """
    # The latest word of each client on each action: another client's word never hides the
    # owner's (the update below matches the owner's only).
    latest = {(c.action_id, c.client_id): c for c in confirmations}
    await audit.lock_chain(conn)
    moved = await repository.confirm_actions(
        conn,
        ids=[c.action_id for c in latest.values()],
        statuses=[c.status.value for c in latest.values()],
        details=[c.detail for c in latest.values()],
        ats=[c.at for c in latest.values()],
        clients=[c.client_id for c in latest.values()],
    )
    if len(moved) < len(latest):
        await _count_refused(
            conn, latest, {(row.action_id, row.client_id) for row in moved}, service
        )
    now = utcnow()
    entries = []
    for row in moved:
        ACTIONS.labels(service, row.action, row.status).inc()
        entries.append(
            AuditEntry(
                actor_kind="client",
                actor_id=row.client_id,
                act=f"action_{row.status}",
                recorded_at=now,
                subject_id=row.subject_id,
                report_id=row.report_id,
                decision_id=row.decision_id,
                action_id=row.action_id,
                details={
                    "status": row.status,
                    "detail": latest[(row.action_id, row.client_id)].detail,
                },
                client_id=row.client_id,
            )
        )
    await audit.append(conn, entries, locked=True)
    return {row.action_id: row.status for row in moved}


async def _count_refused(
    conn: AsyncConnection,
    latest: dict[tuple[uuid.UUID, str], Confirmation],
    moved: set[tuple[uuid.UUID, str]],
    service: str,
) -> None:
    """Count the confirmations that named another client's action (and log them, once)."""
    rest = [c for key, c in latest.items() if key not in moved]
    owner_of = await repository.action_owners(conn, action_ids={c.action_id for c in rest})
    foreign = [c for c in rest if c.action_id in owner_of and owner_of[c.action_id] != c.client_id]
    if foreign:
        CONFIRMATIONS_REFUSED.labels(service, "other_client").inc(len(foreign))
        logger.warning(
            "refused %d confirmation(s) from clients that do not own the action, e.g. %s by %r",
            len(foreign),
            foreign[0].action_id,
            foreign[0].client_id,
        )
