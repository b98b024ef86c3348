"""HTTP request and response models of the enforcement API (never the event classes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ActionRead(BaseModel):
    action_id: uuid.UUID
    decision_id: uuid.UUID
    report_id: uuid.UUID
    subject_type: str
    subject_id: str
    action: str
    policy_area: str
    status: str = Field(description="requested, issued, applied, failed or reversed")
    issued_at: AwareDatetime
    ends_at: datetime | None = None
    attempts: int = 1
    applied_at: datetime | None = None
    failed_at: datetime | None = None
    reversed_at: datetime | None = None
    detail: str | None = None
    client_id: str | None = Field(default=None, description="The product client that owns it")


class ActionList(BaseModel):
    items: list[ActionRead]


class ConfirmationCreate(BaseModel):
    """A product client's report that it carried out an action, or could not."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "applied", "detail": "removed from feed"}]},
    )

    status: Literal["applied", "failed"]
    detail: str = Field(default="", max_length=2000)


class StrikeRead(BaseModel):
    strike_id: uuid.UUID
    decision_id: uuid.UUID
    policy_area: str
    weight: int
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    reversed_at: datetime | None


class StrikeList(BaseModel):
    account_id: str
    active_weight: int
    items: list[StrikeRead]


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
    case_id: uuid.UUID | None = None
    details: dict[str, Any]
    client_id: str | None = Field(
        default=None, description="The product client that owns it (not part of its hash)"
    )
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_after: int | None = Field(description="Pass as ``after`` for the next page.")


class VerifyRead(BaseModel):
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    reason: str | None


class CheckpointRead(BaseModel):
    head_seq: int
    head_hash: str
    created_at: AwareDatetime


class CheckpointList(BaseModel):
    items: list[CheckpointRead]


class AppealCreate(BaseModel):
    """An appeal lodged by the product client on behalf of the affected user or the notifier."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "7d4f3a52-1c2b-5e8f-9a0b-1c2d3e4f5a6b",
                    "appellant": "affected_user",
                    "statement": "The post quotes the insult in order to condemn it.",
                }
            ]
        },
    )

    decision_id: uuid.UUID
    appellant: Literal["affected_user", "notifier"]
    statement: str = Field(default="", max_length=5000)


class AppealAccepted(BaseModel):
    appeal_id: uuid.UUID
    decision_id: uuid.UUID
    appellant: str
    lodged_at: AwareDatetime
    window_ends_at: AwareDatetime


class AppealAreaStats(BaseModel):
    policy_area: str
    decisions: int
    appeals: int
    decided: int
    overturned: int
    appeal_rate: float
    overturn_rate: float | None
    median_decision_seconds: float | None


class AppealStats(BaseModel):
    items: list[AppealAreaStats]


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The one error shape of every service."""

    error: ErrorInfo
