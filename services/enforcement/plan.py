"""The plan of one batch of decisions: the rows it writes and the events it publishes.

Built by :mod:`services.enforcement.planner` (no I/O), written by the handlers.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.enforcement.audit import AuditEntry
from shared.events import (
    Action,
    ActionIssued,
    ActionType,
    ContentType,
    DecidedBy,
    Decision,
    Event,
    Subject,
    SubjectType,
    derive_id,
    utcnow,
)
from shared.taxonomy import DsaCategory, PolicyArea

PRODUCER = "enforcement"
# Rows hold enum members where they were planned and plain values where they were read back;
# a StrEnum member hashes and compares as its value, so one lookup takes either, at a tenth of
# the cost of calling the enum.
_ACTIONS = {m.value: m for m in ActionType}
_AREAS = {m.value: m for m in PolicyArea}
_CATEGORIES = {m.value: m for m in DsaCategory}
_DECIDERS = {m.value: m for m in DecidedBy}
SYSTEM = ("system", "enforcement")
# Strikes count per account of one client: (client_id, account_id).
Account = tuple[str | None, str]


@dataclass(slots=True)
class BatchPlan:
    """Everything one batch writes and publishes, gathered so each table gets one statement."""

    now: datetime
    service: str
    decision_rows: list[dict[str, Any]] = field(default_factory=list)
    action_rows: list[dict[str, Any]] = field(default_factory=list)
    strike_rows: list[dict[str, Any]] = field(default_factory=list)
    evidence_rows: list[dict[str, Any]] = field(default_factory=list)
    legal_rows: list[dict[str, Any]] = field(default_factory=list)
    statement_rows: list[dict[str, Any]] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    # The owning client of each decision of the batch (an appeal's: the appealed decision's).
    clients: dict[uuid.UUID, str | None] = field(default_factory=dict)

    def record(self, act: str, d: Decision, actor: tuple[str, str] = SYSTEM, **kw: Any) -> None:
        self.audit.append(
            AuditEntry(
                actor_kind=actor[0],
                actor_id=actor[1],
                act=act,
                recorded_at=self.now,
                subject_id=d.subject.subject_id,
                report_id=d.report_id,
                decision_id=d.decision_id,
                case_id=d.case_id,
                action_id=kw.pop("action_id", None),
                details=kw,
                client_id=self.clients.get(d.decision_id),
            )
        )


def account_of(subject: Subject) -> str | None:
    """The account that answers for a subject: its owner, or the account itself."""
    if subject.owner_account_id:
        return subject.owner_account_id
    return subject.subject_id if subject.subject_type is SubjectType.ACCOUNT else None


def action_event(
    row: dict[str, Any],
    *,
    attempt: int = 1,
    reverses: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    subject: Subject | None = None,
) -> ActionIssued:
    """The ``ActionIssued`` for a ledger row; a re-issue gets a new event id, same action id."""
    action_id = row["action_id"]
    event_key = (str(action_id),) if attempt == 1 else (str(action_id), str(attempt))
    if subject is None:
        subject = Subject(
            subject_type=SubjectType(row["subject_type"]),
            subject_id=row["subject_id"],
            content_type=ContentType(row["content_type"] or ContentType.OTHER.value),
            owner_account_id=row["owner_account_id"],
        )
    return ActionIssued.unchecked(
        event_id=derive_id("event", *event_key),
        occurred_at=utcnow(),
        producer=PRODUCER,
        correlation_id=row["correlation_id"] or row["report_id"],
        causation_id=causation_id,
        payload=Action.unchecked(
            action_id=action_id,
            decision_id=row["decision_id"],
            report_id=row["report_id"],
            subject=subject,
            action=_ACTIONS[row["action"]],
            policy_area=_AREAS[row["policy_area"]],
            dsa_category=_CATEGORIES[row["dsa_category"]],
            decided_by=_DECIDERS[row["decided_by"]],
            reason=row["reason"] or "",
            issued_at=row["issued_at"],
            ends_at=row["ends_at"],
            territorial_scope=list(row["territorial_scope"] or ()),
            reverses=reverses,
        ),
    )
