"""HTTP request and response models of the review API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from shared.events import ActionType, AppealRef, Outcome, ReviewTask
from shared.http import JSON_INTEGER
from shared.kafka.topics import QUEUE_NAME
from shared.taxonomy import PolicyArea, Tier


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionCreate(_In):
    """A reviewer's decision on the case they hold."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["outcome", "action"],
                    "properties": {
                        "outcome": {"const": Outcome.ACTION.value},
                        "action": {"$ref": "#/components/schemas/ActionType"},
                        "manifestly_unfounded": {"const": False},
                    },
                },
                {
                    "required": ["outcome"],
                    "properties": {
                        "outcome": {"const": Outcome.NO_ACTION.value},
                        "action": {"type": "null"},
                    },
                },
            ]
        }
    )

    outcome: Outcome
    action: ActionType | None = Field(
        default=None, description="Required with outcome action; absent or null with no_action."
    )
    reason: str = Field(min_length=1, max_length=2000)
    manifestly_unfounded: StrictBool = Field(
        default=False, description="Only with outcome no_action."
    )
    duration_days: Annotated[int, Field(gt=0, le=3650), JSON_INTEGER] | None = None
    territorial_scope: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, max_length=40, description="Two-letter codes (Greece is GR)."
    )

    @model_validator(mode="after")
    def _action_matches_outcome(self) -> DecisionCreate:
        if self.outcome is Outcome.ACTION and self.action is None:
            raise ValueError("an action is required when the outcome is action")
        if self.outcome is Outcome.NO_ACTION and self.action is not None:
            raise ValueError("no action may be given when the outcome is no_action")
        if self.manifestly_unfounded and self.outcome is Outcome.ACTION:
            raise ValueError("a notice acted upon cannot be manifestly unfounded")
        return self

    def activity_detail(self) -> str:
        """The decision as one line of the case's activity log: outcome, action, reason."""
        action = f" {self.action.value}" if self.action else ""
        return f"{self.outcome.value}{action}: {self.reason}"


class EscalationCreate(_In):
    queue: str = Field(pattern=QUEUE_NAME.pattern, description="The queue to move the case to.")
    reason: str = Field(min_length=1, max_length=2000)


class NoteCreate(_In):
    note: str = Field(min_length=1, max_length=5000)


class CaseRead(BaseModel):
    """A case as a reviewer sees it: state, lease, and the review task (the reports in full)."""

    case_id: uuid.UUID
    kind: Literal["report", "appeal", "qa"]
    queue: str
    status: Literal["open", "awaiting_confirmation", "decided"]
    policy_area: PolicyArea
    tier: Tier
    priority: int
    deadline: datetime
    reason: str
    report_ids: list[uuid.UUID]
    lease_holder: str | None
    lease_expires_at: datetime | None
    proposal: DecisionCreate | None = Field(
        default=None, description="The decision awaiting a second reviewer's confirmation."
    )
    proposed_by: str | None = None
    appeal: AppealRef | None = None
    qa_of: dict[str, object] | None = Field(
        default=None, description="The decision under QA re-review (QA cases only)."
    )
    task: ReviewTask | None = Field(default=None, description="Everything needed to decide.")


class DecisionResult(BaseModel):
    case_id: uuid.UUID
    status: Literal["decided", "awaiting_confirmation", "recorded"]
    decision_id: uuid.UUID | None = Field(
        default=None, description="The published decision (absent while awaiting confirmation)."
    )
    confirmed_by: str | None = None


class AgreementRow(BaseModel):
    key: str
    reviewed: int
    agreed: int
    agreement: float


class ShadowAgreement(BaseModel):
    shadow_version: str
    live_version: str
    judged: int
    agreed: int
    agreement: float
    outcomes: dict[str, int] = Field(description="Counts by 'live_outcome->shadow_outcome'.")
