"""HTTP response models of the enforcement API."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel


class ActionRead(BaseModel):
    action_id: uuid.UUID
    decision_id: uuid.UUID
    report_id: uuid.UUID
    subject_type: str
    subject_id: str
    action: str
    policy_area: str
    status: str
    issued_at: AwareDatetime


class ActionList(BaseModel):
    items: list[ActionRead]


class AuditRecord(BaseModel):
    seq: int
    recorded_at: AwareDatetime
    actor_kind: str
    actor_id: str
    act: str
    subject_id: str | None
    report_id: uuid.UUID | None
    decision_id: uuid.UUID | None
    action_id: uuid.UUID | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_after: int | None


class VerifyRead(BaseModel):
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    reason: str | None
