"""HTTP request and response models of the intake API (never the event classes)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events import ContentType, Source, SubjectType
from shared.taxonomy import DsaCategory, PolicyArea


class ReporterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reporter_id: str | None = Field(default=None, max_length=256, description="The platform's id.")
    name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_type: SubjectType
    subject_id: str = Field(min_length=1, max_length=256, pattern=r"^\S+$")
    content_type: ContentType = ContentType.TEXT
    owner_account_id: str | None = Field(default=None, max_length=256)
    text: str | None = Field(default=None, max_length=20_000, description="The content itself.")
    urls: list[str] = Field(default_factory=list, max_length=50)


class ReportCreate(BaseModel):
    """A user report (notice) about a piece of content or an account."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "user_notice",
                    "reporter": {"reporter_id": "user-829"},
                    "subject": {
                        "subject_type": "content",
                        "subject_id": "msg-1001",
                        "content_type": "text",
                        "owner_account_id": "acct-77",
                        "text": "you are a worthless idiot, shut up",
                    },
                    "category": "harassment",
                    "explanation": "Insults aimed at me in a group chat.",
                    "language": "en",
                }
            ]
        },
    )

    source: Source = Source.USER_NOTICE
    reporter: ReporterIn = Field(default_factory=ReporterIn)
    subject: SubjectIn
    category: PolicyArea = PolicyArea.OTHER
    reason_code: str | None = Field(default=None, max_length=128)
    explanation: str = Field(default="", max_length=5000)
    occurred_at: AwareDatetime | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


ReportStatus = Literal["received", "classified", "routed", "in_review", "decided"]


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status: ReportStatus
    status_url: str
    received_at: AwareDatetime
    duplicate: bool = Field(description="True when the Idempotency-Key matched an earlier report.")


class ReportRead(BaseModel):
    report_id: uuid.UUID
    status: ReportStatus
    received_at: AwareDatetime
    source: Source
    policy_area: PolicyArea
    dsa_category: DsaCategory
    subject_type: SubjectType
    subject_id: str
