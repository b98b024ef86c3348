"""HTTP request and response models of the intake API (never the event classes).

``ReportCreate`` is the canonical notice, version 1: what product clients send and what DSA
Art. 16 asks of a notice (explanation, exact locations, optional notifier identity, good-faith
statement). Every string and list has a length limit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from shared.events import ActionType, ContentType, Outcome, Source, SourceKind, SubjectType
from shared.http import JSON_INTEGER, IsoDatetime
from shared.taxonomy import DsaCategory, PolicyArea

Location = Annotated[str, Field(min_length=1, max_length=2048)]

# Control characters, NUL and every Unicode space, spelt out: ``\s`` means other characters in
# the service's regex engine than in a client's (U+0085 and U+001C differ).
_NOT_VISIBLE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


class ReporterIn(BaseModel):
    """The notifier. Every field is optional: anonymous notices are accepted (DSA Art. 16(2)).

    Name and email stay in intake's database; events carry only ``reporter_id`` and whether the
    notifier was anonymous.
    """

    model_config = ConfigDict(extra="forbid")

    reporter_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="The platform's (pseudonymous) id."
    )
    name: str | None = Field(default=None, min_length=1, max_length=256)
    email: str | None = Field(
        default=None,
        max_length=320,
        pattern=f"^[^@{_NOT_VISIBLE}]+@[^@{_NOT_VISIBLE}]+\\.[^@{_NOT_VISIBLE}]+$",
    )


def base64_length(size: int) -> int:
    """The length of the base64 text of ``size`` bytes."""
    return 4 * ((size + 2) // 3)


# One of these must be given (and not null) for a media item to be matched against anything.
_MEDIA_REFERENCES = ("data_base64", "uri", "md5", "sha256", "pdq")


class MediaIn(BaseModel):
    """An image, video, audio clip or file: a small inline copy, a URI, or its hashes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in _MEDIA_REFERENCES
            ]
        },
    )

    media_type: ContentType = ContentType.IMAGE
    uri: str | None = Field(default=None, min_length=1, max_length=2048)
    data_base64: str | None = Field(
        default=None,
        max_length=22_369_624,
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        description="Inline copy, base64; at most the service's media_inline_max_bytes decoded.",
    )
    md5: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    pdq: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$", description="PDQ, hex.")

    @model_validator(mode="after")
    def _something_to_match(self) -> MediaIn:
        if all(getattr(self, name) is None for name in _MEDIA_REFERENCES):
            raise ValueError("give data_base64, uri, md5, sha256 or pdq")
        return self


class SubjectIn(BaseModel):
    """What the notice is about: a piece of content or an account, itself or a reference to it."""

    model_config = ConfigDict(extra="forbid")

    subject_type: SubjectType
    subject_id: str = Field(min_length=1, max_length=256, pattern=f"^[^{_NOT_VISIBLE}]+$")
    content_type: ContentType = ContentType.TEXT
    owner_account_id: str | None = Field(default=None, min_length=1, max_length=256)
    text: str | None = Field(default=None, max_length=20_000, description="The content itself.")
    content_ref: str | None = Field(
        default=None, min_length=1, max_length=2048, description="Where the content is kept."
    )
    urls: list[Location] = Field(default_factory=list, max_length=50)
    media: list[MediaIn] = Field(default_factory=list, max_length=10)


_EXAMPLE_REPORT: dict[str, Any] = {
    "schema_version": 1,
    "source": "user_notice",
    "reporter": {"reporter_id": "user-829", "name": "Ana Silva", "email": "ana@example.org"},
    "subject": {
        "subject_type": "content",
        "subject_id": "msg-1001",
        "content_type": "text",
        "owner_account_id": "acct-77",
        "text": "you are a worthless idiot, shut up",
    },
    "reason_code": "harassment",
    "explanation": "Insults aimed at me in a group chat.",
    "locations": ["https://chat.example.com/g/42/m/1001"],
    "good_faith": True,
    "language": "en",
    "surface": "group_chat",
    "reach": 40,
}

_EXAMPLE_ANONYMOUS_CSAM: dict[str, Any] = {
    "subject": {
        "subject_type": "content",
        "subject_id": "img-5531",
        "content_type": "image",
        "media": [{"media_type": "image", "sha256": "a" * 64}],
    },
    "reason_code": "csam",
    "explanation": "Sexual image of a child.",
    "locations": ["https://photos.example.com/p/5531"],
}


class ReportCreate(BaseModel):
    """A notice (user report) about a piece of content or an account; schema version 1."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [_EXAMPLE_REPORT, _EXAMPLE_ANONYMOUS_CSAM]}
    )

    schema_version: Annotated[int, Field(ge=1, le=1), JSON_INTEGER] = Field(
        default=1, description="Always 1."
    )
    source: Source = Field(
        default=Source.USER_NOTICE,
        description="trusted_flagger and authority_order are the registry's to grant: a "
        "registered flagger's notice within its areas is trusted_flagger and a registered "
        "authority's is authority_order, whatever this says; claimed by anyone else, either is "
        "an ordinary user_notice.",
    )
    source_kind: SourceKind | None = Field(
        default=None,
        description="legal_order, law_enforcement, regulator and advertiser are the registry's "
        "to grant too: a notice from a source registered with a kind carries that kind (and its "
        "review deadline and priority), whatever this says; claimed by anyone else, the kind is "
        "dropped and an authority claim is an ordinary user_notice.",
    )
    reporter: ReporterIn = Field(default_factory=ReporterIn)
    subject: SubjectIn
    category: PolicyArea | None = Field(
        default=None, description="Our policy area, when the client knows it; else reason_code."
    )
    reason_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The client's own reason code, mapped by the client's mapping file.",
    )
    explanation: str = Field(default="", max_length=5000, description="Why it is illegal/abusive.")
    locations: list[Location] = Field(
        default_factory=list, max_length=50, description="Exact URLs and identifiers."
    )
    good_faith: StrictBool = Field(
        default=False, description="The notifier's good-faith statement."
    )
    occurred_at: IsoDatetime | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$", description="ISO 639-1.")
    surface: str | None = Field(
        default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Product."
    )
    reach: Annotated[int, Field(ge=0, le=10**12), JSON_INTEGER] | None = Field(
        default=None, description="Views or audience."
    )


AcceptedStatus = Literal["received", "held"]
ReportStatus = Literal["received", "held", "classified", "routed", "in_review", "decided"]


class ReportAccepted(BaseModel):
    """The receipt (DSA Art. 16(4))."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_id": "0b0f7c1e-4a8e-4d9a-9a51-6f7f1b2c3d4e",
                    "status": "received",
                    "status_url": "/v1/reports/0b0f7c1e-4a8e-4d9a-9a51-6f7f1b2c3d4e",
                    "received_at": "2026-11-22T06:20:43Z",
                    "duplicate": False,
                    "notice": None,
                }
            ]
        }
    )

    report_id: uuid.UUID
    status: AcceptedStatus
    status_url: str
    received_at: AwareDatetime
    duplicate: bool = Field(description="True when the Idempotency-Key matched an earlier report.")
    notice: str | None = Field(
        default=None, description="A misuse warning or hold the notifier must be told about."
    )


class OutcomeRead(BaseModel):
    """What the notifier may be told once the report is decided (DSA Art. 16(5))."""

    outcome: Outcome
    action: ActionType | None = None
    policy_area: PolicyArea
    automated: bool = Field(description="Whether automated means took the decision.")
    decided_at: AwareDatetime
    redress: str = Field(description="How to appeal, and until when.")
    appeal_until: AwareDatetime


class ReportRead(BaseModel):
    """Where a report is now; statuses never go backwards."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_id": "0b0f7c1e-4a8e-4d9a-9a51-6f7f1b2c3d4e",
                    "status": "decided",
                    "received_at": "2026-11-22T06:20:43Z",
                    "updated_at": "2026-11-22T06:21:02Z",
                    "source": "user_notice",
                    "policy_area": "harassment",
                    "dsa_category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
                    "subject_type": "content",
                    "subject_id": "msg-1001",
                    "trusted_flagger": False,
                    "queue": None,
                    "notice": None,
                    "outcome": {
                        "outcome": "action",
                        "action": "remove_content",
                        "policy_area": "harassment",
                        "automated": True,
                        "decided_at": "2026-11-22T06:21:02Z",
                        "redress": "You may appeal this decision until 2027-05-24.",
                        "appeal_until": "2027-05-24T06:21:02Z",
                    },
                }
            ]
        }
    )

    report_id: uuid.UUID
    status: ReportStatus
    received_at: AwareDatetime
    updated_at: AwareDatetime
    source: Source
    policy_area: PolicyArea
    dsa_category: DsaCategory
    subject_type: SubjectType
    subject_id: str
    trusted_flagger: bool
    queue: str | None = Field(default=None, description="The review queue, while in review.")
    notice: str | None = Field(default=None, description="Misuse warning or hold, if any.")
    outcome: OutcomeRead | None = None


class BatchCreate(BaseModel):
    """Up to ``batch_max_items`` notices; each is checked on its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reports": [
                        {**_EXAMPLE_REPORT, "item_key": "client-batch-7/0"},
                        {**_EXAMPLE_ANONYMOUS_CSAM, "item_key": "client-batch-7/1"},
                    ]
                }
            ]
        },
    )

    reports: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=500,
        description="Each item is a ReportCreate plus an optional item_key (its idempotency key). "
        "Items are validated one by one, so one bad item does not sink the others.",
    )


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class BatchItemResult(BaseModel):
    index: int = Field(ge=0)
    item_key: str | None = None
    status: Literal["received", "held", "rejected"]
    http_status: Literal[202, 409, 422]
    duplicate: bool = False
    report_id: uuid.UUID | None = None
    status_url: str | None = None
    notice: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "rejected": 1,
                    "results": [
                        {
                            "index": 0,
                            "item_key": "client-batch-7/0",
                            "status": "received",
                            "http_status": 202,
                            "duplicate": False,
                            "report_id": "0b0f7c1e-4a8e-4d9a-9a51-6f7f1b2c3d4e",
                            "status_url": "/v1/reports/0b0f7c1e-4a8e-4d9a-9a51-6f7f1b2c3d4e",
                            "notice": None,
                            "errors": [],
                        },
                        {
                            "index": 1,
                            "item_key": "client-batch-7/1",
                            "status": "rejected",
                            "http_status": 422,
                            "duplicate": False,
                            "report_id": None,
                            "status_url": None,
                            "notice": None,
                            "errors": [
                                {
                                    "field": "subject.subject_id",
                                    "message": "Field required",
                                    "type": "missing",
                                }
                            ],
                        },
                    ],
                }
            ]
        }
    )

    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)
    results: list[BatchItemResult]


class MisuseSummary(BaseModel):
    """Art. 23 figures for the transparency report, for the calling client and period."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "app-web",
                    "since": "2026-01-01T00:00:00Z",
                    "until": "2026-07-01T00:00:00Z",
                    "warnings": 3,
                    "suspensions": 1,
                    "held_notices": 12,
                    "exempt_child_safety_notices": 0,
                }
            ]
        }
    )

    client_id: str
    since: AwareDatetime
    until: AwareDatetime
    warnings: int = Field(ge=0)
    suspensions: int = Field(ge=0)
    held_notices: int = Field(ge=0)
    exempt_child_safety_notices: int = Field(
        ge=0, description="Notices of suspended reporters processed because of child safety."
    )
