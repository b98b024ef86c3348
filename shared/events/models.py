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


class SourceKind(StrEnum):
    """Which registered kind of source sent a notice, finer than ``Source`` (optional field).

    Set by intake only for a sender registered with that kind. The coarse ``source`` stays one
    that every v1 reader knows: the authority kinds are ``authority_order``, an advertiser's
    complaint is a ``user_notice``.
    """

    LEGAL_ORDER = "legal_order"
    LAW_ENFORCEMENT = "law_enforcement"
    REGULATOR = "regulator"
    ADVERTISER = "advertiser"


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


class Media(Model):
    """An image, video, audio or file attached to a report: inline bytes or its hashes."""

    media_type: ContentType
    uri: str | None = Field(default=None, max_length=2048)
    data_base64: str | None = Field(
        default=None, description="Small inline copy (base64); intake bounds its size."
    )
    md5: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    pdq: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="PDQ hash, hex.")


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
    locations: list[str] = Field(
        default_factory=list, description="Exact locations (URLs, identifiers) the notice names."
    )
    surface: str | None = Field(default=None, description="Product surface it was seen on.")
    good_faith: bool = Field(default=False, description="The notifier's good-faith statement.")
    anonymous: bool = Field(default=True, description="True when the notifier gave no identity.")
    trusted_flagger_id: str | None = Field(
        default=None, description="Set when a registered trusted flagger notified within its area."
    )
    source_kind: SourceKind | None = Field(
        default=None,
        description="The registered kind of sender (court order, law enforcement, regulator, "
        "advertiser); absent for everyone else.",
    )
    reach: int | None = Field(default=None, ge=0, description="Views or audience of the subject.")
    content_ref: str | None = Field(default=None, description="Reference to the content itself.")
    media: list[Media] = Field(default_factory=list)
    urls_flagged: list[str] = Field(
        default_factory=list, description="URLs whose host was punycode (decoded in ``urls``)."
    )


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
    weight: float = Field(default=1.0, ge=0.0, description="Weight of the signal in the score.")
    shadow: bool = Field(default=False, description="Recorded only; did not count.")


class PriorAction(Model):
    """An earlier enforcement action on the same subject or its owner."""

    action: ActionType
    policy_area: PolicyArea
    decided_at: AwareDatetime


class ReportContext(Model):
    """What is known around a report: its reporter, its subject, how often it is reported."""

    reporter_reputation: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Bayesian share of past notices that led to action.",
    )
    reporter_notices: int = Field(default=0, ge=0)
    trusted_flagger: bool = False
    distinct_reporters: int = Field(
        default=1, ge=0, description="Distinct reporters of this subject in the recent window."
    )
    prior_actions: list[PriorAction] = Field(default_factory=list)


class Classification(Model):
    scores: dict[PolicyArea, float] = Field(description="Calibrated probability per policy area.")
    top_policy_area: PolicyArea
    top_score: float = Field(ge=0.0, le=1.0)
    signals: list[SignalResult]
    versions: dict[str, str] = Field(description="Version of every rule set, model and bank used.")
    missing_signals: list[str] = Field(default_factory=list)
    context: ReportContext = Field(default_factory=ReportContext)
    hash_match_bank: str | None = Field(
        default=None, description="The hash bank a media item matched, if any."
    )


class ClassifiedReport(Model):
    report: Report
    classification: Classification


class ReportClassified(Event):
    TOPIC = "tns.reports.classified.v1"
    event_type: Literal["ReportClassified"] = "ReportClassified"
    payload: ClassifiedReport

    def key(self) -> bytes:
        return self.payload.report.subject.subject_id.encode()


class RouteKind(StrEnum):
    AUTOMATED_ACTION = "automated_action"
    DISMISSED = "dismissed"
    REVIEW = "review"


class Routing(Model):
    report_id: uuid.UUID
    subject_id: str
    route: RouteKind
    policy_area: PolicyArea
    case_id: uuid.UUID | None = None
    queue: str | None = None
    deadline: AwareDatetime | None = None
    policy_version: str
    routed_at: AwareDatetime


class ReportRouted(Event):
    """Where the router sent a report: automated action, dismissal, or a case in a queue."""

    TOPIC = "tns.reports.routed.v1"
    event_type: Literal["ReportRouted"] = "ReportRouted"
    payload: Routing

    def key(self) -> bytes:
        return self.payload.subject_id.encode()


class AppealRef(Model):
    """The appeal a review task or a decision is about."""

    appeal_id: uuid.UUID
    decision_id: uuid.UUID
    appellant: Literal["affected_user", "notifier"]
    statement: str = ""
    original_reviewer_id: str | None = None
    original_outcome: Outcome
    original_action: ActionType | None = None


class ReviewTask(Model):
    """Everything a reviewer needs to decide one case (one subject and policy area)."""

    task_id: uuid.UUID
    case_id: uuid.UUID | None = None
    queue: str
    policy_area: PolicyArea
    tier: Tier
    priority: int = Field(description="Higher is more urgent.")
    deadline: AwareDatetime
    reason: str
    policy_version: str
    report: Report = Field(description="The latest report on the case.")
    classification: Classification
    report_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Every report linked to the case so far."
    )
    reports: list[Report] = Field(default_factory=list, description="Earlier linked reports.")
    appeal: AppealRef | None = None


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
    case_id: uuid.UUID | None = None
    report_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Every report the decision settles (the case's)."
    )
    confirmed_by: str | None = Field(default=None, description="Second reviewer (four-eyes).")
    automated_detection: bool = Field(default=False, description="Detected by automated means.")
    manifestly_unfounded: bool = Field(
        default=False, description="The notice was manifestly unfounded (DSA Art. 23)."
    )
    territorial_scope: list[str] = Field(
        default_factory=list, description="Two-letter codes when restricted in some territories."
    )
    duration_days: int | None = Field(default=None, gt=0, description="Length of a suspension.")
    appeal: AppealRef | None = Field(
        default=None, description="Set on the decision of an appeal; outcome ACTION upholds it."
    )
    client_id: str | None = Field(
        default=None,
        max_length=256,
        description="The product client whose notice led to the decision; its records are theirs.",
    )
    source_kind: SourceKind | None = Field(
        default=None, description="The registered kind of sender of the notice decided on."
    )
    received_at: AwareDatetime | None = Field(
        default=None,
        description="When the earliest report the decision settles was received (time to action "
        "runs from here).",
    )


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
    ends_at: AwareDatetime | None = Field(default=None, description="End of a temporary action.")
    territorial_scope: list[str] = Field(default_factory=list)
    reverses: uuid.UUID | None = Field(
        default=None, description="Set when this message reverses an earlier action (appeal)."
    )


class ActionIssued(Event):
    """An action (or, with ``reverses`` set, a reversal) for product clients to carry out."""

    TOPIC = "tns.actions.v1"
    event_type: Literal["ActionIssued"] = "ActionIssued"
    payload: Action

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


class ActionStatus(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"


class Confirmation(Model):
    action_id: uuid.UUID
    subject_id: str
    status: ActionStatus
    detail: str = Field(default="", max_length=2000)
    confirmed_at: AwareDatetime


class ActionConfirmed(Event):
    """A product client confirming that it applied (or could not apply) an action."""

    TOPIC = "tns.actions.confirmations.v1"
    event_type: Literal["ActionConfirmed"] = "ActionConfirmed"
    payload: Confirmation

    def key(self) -> bytes:
        return self.payload.subject_id.encode()


class Recipient(StrEnum):
    AFFECTED_USER = "affected_user"
    NOTIFIER = "notifier"


class Notice(Model):
    """A message to the affected user (statement of reasons) or the notifier (outcome)."""

    notice_id: uuid.UUID
    recipient: Recipient
    recipient_ref: str = Field(description="Owner account id, or the report id for a notifier.")
    report_id: uuid.UUID
    decision_id: uuid.UUID
    subject: Subject
    outcome: Outcome
    action: ActionType | None = None
    policy_area: PolicyArea
    automated: bool = Field(description="Whether automated means took the decision.")
    message: str
    redress: str = Field(description="How to appeal, and until when.")
    appeal_until: AwareDatetime


class UserNotified(Event):
    TOPIC = "tns.notifications.v1"
    event_type: Literal["UserNotified"] = "UserNotified"
    payload: Notice

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


class Appeal(Model):
    appeal: AppealRef
    report_id: uuid.UUID
    subject: Subject
    policy_area: PolicyArea
    lodged_at: AwareDatetime


class AppealLodged(Event):
    """An appeal accepted by enforcement, for the router to put on the appeals queue."""

    TOPIC = "tns.appeals.v1"
    event_type: Literal["AppealLodged"] = "AppealLodged"
    payload: Appeal

    def key(self) -> bytes:
        return self.payload.subject.subject_id.encode()


EVENT_TYPES: tuple[type[Event], ...] = (
    ReportReceived,
    ReportClassified,
    ReportRouted,
    ReviewTaskCreated,
    DecisionMade,
    ActionIssued,
    ActionConfirmed,
    UserNotified,
    AppealLodged,
)
