"""The event contract between the services (schema version 1).

Adding an optional field keeps the version; a breaking change is a new model on a ``.v2`` topic.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import Event, Model
from shared.taxonomy import DsaCategory, PolicyArea, Tier


class Source(StrEnum):
    """Who raised the report (DSA: notice, trusted flagger, order, own initiative)."""

    USER_NOTICE = "user_notice"
    TRUSTED_FLAGGER = "trusted_flagger"
    AUTHORITY_ORDER = "authority_order"
    AUTOMATED_DETECTION = "automated_detection"
    INTERNAL = "internal"


class SubjectType(StrEnum):
    CONTENT = "content"
    ACCOUNT = "account"


class ContentType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    URL = "url"
    ACCOUNT = "account"
    OTHER = "other"


class ActionType(StrEnum):
    REMOVE_CONTENT = "remove_content"
    DISABLE_CONTENT = "disable_content"
    DEMOTE_CONTENT = "demote_content"
    AGE_RESTRICT_CONTENT = "age_restrict_content"
    RESTRICT_INTERACTION = "restrict_interaction"
    LABEL_CONTENT = "label_content"
    WARN_ACCOUNT = "warn_account"
    RESTRICT_ACCOUNT = "restrict_account"
    SUSPEND_ACCOUNT = "suspend_account"
    TERMINATE_ACCOUNT = "terminate_account"
    SUSPEND_MONETISATION = "suspend_monetisation"
    TERMINATE_MONETISATION = "terminate_monetisation"


class Outcome(StrEnum):
    ACTION = "action"
    NO_ACTION = "no_action"


class DecidedBy(StrEnum):
    AUTOMATED = "automated"
    HUMAN = "human"


class Subject(Model):
    """The content or account a report is about."""

    subject_type: SubjectType
    subject_id: str = Field(min_length=1, max_length=256)
    content_type: ContentType
    owner_account_id: str | None = Field(default=None, max_length=256)


class Report(Model):
    """The canonical report as intake accepted it."""

    report_id: uuid.UUID
    received_at: AwareDatetime
    client_id: str
    source: Source
    reporter_id: str | None = Field(
        default=None, description="Pseudonymous reporter id; names and emails stay in intake."
    )
    subject: Subject
    policy_area: PolicyArea
    dsa_category: DsaCategory
    reason_code: str | None = None
    explanation: str = ""
    text: str | None = None
    normalised_text: str = ""
    folded_text: str = ""
    urls: list[str] = Field(default_factory=list)
    language: str | None = None
    occurred_at: AwareDatetime | None = None
    fingerprint: str


class ReportReceived(Event):
    TOPIC = "tns.reports.received.v1"
    event_type: Literal["ReportReceived"] = "ReportReceived"
    payload: Report

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


class SignalResult(Model):
    """One signal that fired, with its contribution."""

    name: str
    version: str
    policy_area: PolicyArea
    score: float = Field(ge=0.0, le=1.0)
    detail: str = ""


class Classification(Model):
    scores: dict[PolicyArea, float]
    top_policy_area: PolicyArea
    top_score: float = Field(ge=0.0, le=1.0)
    signals: list[SignalResult]
    versions: dict[str, str] = Field(description="Version of every rule set and model used.")
    missing_signals: list[str] = Field(default_factory=list)


class ClassifiedReport(Model):
    report: Report
    classification: Classification


class ReportClassified(Event):
    TOPIC = "tns.reports.classified.v1"
    event_type: Literal["ReportClassified"] = "ReportClassified"
    payload: ClassifiedReport

    def key(self) -> bytes:
        return self.payload.report.subject.subject_id.encode()


class ReviewTask(Model):
    """Everything a reviewer needs to decide one report."""

    task_id: uuid.UUID
    queue: str
    policy_area: PolicyArea
    tier: Tier
    priority: int = Field(description="Higher is more urgent.")
    deadline: AwareDatetime
    reason: str
    policy_version: str
    report: Report
    classification: Classification


class ReviewTaskCreated(Event):
    """Published on ``tns.review.<queue>.v1``; the topic depends on the queue."""

    TOPIC = "tns.review.{queue}.v1"
    event_type: Literal["ReviewTaskCreated"] = "ReviewTaskCreated"
    payload: ReviewTask

    def key(self) -> bytes:
        return self.payload.report.subject.subject_id.encode()


class Actor(Model):
    """Who or what decided: a reviewer, or a policy with the versions behind it."""

    kind: Literal["policy", "reviewer"]
    actor_id: str
    versions: dict[str, str] = Field(default_factory=dict)


class Decision(Model):
    decision_id: uuid.UUID
    report_id: uuid.UUID
    subject: Subject
    policy_area: PolicyArea
    dsa_category: DsaCategory
    source: Source
    outcome: Outcome
    action: ActionType | None = None
    decided_by: DecidedBy
    actor: Actor
    reason: str
    score: float | None = None
    decided_at: AwareDatetime


class DecisionMade(Event):
    TOPIC = "tns.decisions.v1"
    event_type: Literal["DecisionMade"] = "DecisionMade"
    payload: Decision

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


class Action(Model):
    """An action for the product client to carry out. Holds no reporter identity."""

    action_id: uuid.UUID
    decision_id: uuid.UUID
    report_id: uuid.UUID
    subject: Subject
    action: ActionType
    policy_area: PolicyArea
    dsa_category: DsaCategory
    decided_by: DecidedBy
    reason: str
    issued_at: AwareDatetime


class ActionIssued(Event):
    TOPIC = "tns.actions.v1"
    event_type: Literal["ActionIssued"] = "ActionIssued"
    payload: Action

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


EVENT_TYPES: tuple[type[Event], ...] = (
    ReportReceived,
    ReportClassified,
    ReviewTaskCreated,
    DecisionMade,
    ActionIssued,
)
