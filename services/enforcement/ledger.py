"""The ledger sweep: actions not confirmed in time are re-issued, then raised as failed.

Runs periodically in every replica; ``FOR UPDATE SKIP LOCKED`` and the chain lock keep two
replicas from re-issuing the same action at once. The re-issued message is acknowledged by the
broker before the transaction commits, so a crash re-issues it again rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.enforcement import audit, repository
from services.enforcement.audit import AuditEntry
from services.enforcement.metrics import ACTIONS
from services.enforcement.plan import action_event
from services.enforcement.settings import EnforcementSettings
from shared.events import utcnow
from shared.kafka.producer import EventProducer

logger = logging.getLogger(__name__)


async def sweep(
    engine: AsyncEngine,
    producer: EventProducer,
    settings: EnforcementSettings,
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> tuple[int, int]:
    """Re-issue or fail the overdue actions; returns ``(reissued, failed)``."""
    now = now or utcnow()
    async with engine.begin() as conn:
        await audit.lock_chain(conn)
        due = await repository.overdue_actions(conn, now=now, limit=limit)
        if not due:
            return 0, 0
        retry: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        entries: list[AuditEntry] = []
        events = []
        for row in due:
            attempts = row["attempts"]
            common = {
                "actor_kind": "system",
                "actor_id": settings.service_name,
                "recorded_at": now,
                "subject_id": row["subject_id"],
                "report_id": row["report_id"],
                "decision_id": row["decision_id"],
                "action_id": row["action_id"],
                "client_id": row["client_id"],
            }
            if attempts > settings.action_max_reissues:
                failed.append({"b_id": row["action_id"], "b_detail": _gave_up(attempts)})
                ACTIONS.labels(settings.service_name, row["action"], "failed").inc()
                entries.append(
                    AuditEntry(
                        act="action_failed",
                        details={"status": "failed", "attempts": attempts, "reason": "unconfirmed"},
                        **common,
                    )
                )
                continue
            wait = settings.action_confirm_timeout_s * 2**attempts
            retry.append(
                {
                    "b_id": row["action_id"],
                    "b_attempts": attempts + 1,
                    "b_next": now + timedelta(seconds=wait),
                }
            )
            events.append(action_event(row, attempt=attempts + 1))
            ACTIONS.labels(settings.service_name, row["action"], "reissued").inc()
            entries.append(
                AuditEntry(
                    act="action_reissued",
                    details={"status": "issued", "attempt": attempts + 1},
                    **common,
                )
            )
        await repository.reschedule_actions(conn, retries=retry)
        await repository.fail_actions(conn, failures=failed, now=now)
        await audit.append(conn, entries, locked=True)
        await producer.publish(events)
    return len(retry), len(failed)


def _gave_up(attempts: int) -> str:
    return f"not confirmed after {attempts} issues"


async def periodic(
    name: str, interval: float, job: Callable[[], Awaitable[object]], stopping: asyncio.Event
) -> None:
    """Run ``job`` every ``interval`` seconds until ``stopping`` is set; errors are logged."""
    while not stopping.is_set():
        try:
            await job()
        except Exception:
            logger.exception("periodic task %s failed; retrying in %.1fs", name, interval)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        except TimeoutError:
            continue
