"""Turns a client's notice into the canonical ``ReportReceived`` event and its stored row.

No I/O: the reason-code mappings, the trusted-flagger registry and reporter standing are read
from memory, so the request path touches the database only through the batched writer.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from services.intake.mappings import ReasonCodes
from services.intake.misuse import WARNING_TEXT, hold_text
from services.intake.registry import Registry
from services.intake.schemas import ReportCreate, base64_length
from services.intake.writer import Outgoing
from shared.apikeys import Principal
from shared.events import (
    Media,
    Report,
    ReportReceived,
    Source,
    SourceKind,
    Subject,
    derive_id,
    utcnow,
)
from shared.taxonomy import DsaCategory, PolicyArea, dsa_category
from shared.text import fingerprint, fold, normalise, report_urls


class InvalidFieldError(ValueError):
    """A field that passed the schema but breaks a limit of this deployment."""

    def __init__(self, loc: tuple[str | int, ...], message: str, kind: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Prepared:
    """A notice ready for the writer (its row and serialised event), and what to tell about it."""

    outgoing: Outgoing
    notice: str | None
    unknown_code: bool
    exempt: bool

    @property
    def publish(self) -> bool:
        return self.outgoing.publish


_PAYLOAD_KEY = b',"payload":'


def payload_json(event_json: bytes) -> str:
    """The ``payload`` member of a serialised event envelope, as JSON text.

    Pydantic writes fields in declaration order and ``payload`` is the envelope's last field, so
    the report's JSON is what follows its key, up to the closing brace. The first occurrence is
    the key: a string value holding those characters would have its quotes escaped.
    """
    start = event_json.find(_PAYLOAD_KEY)
    if start < 0 or not event_json.endswith(b"}"):
        raise ValueError("not a serialised event envelope")
    return event_json[start + len(_PAYLOAD_KEY) : -1].decode()


class Ingestor:
    def __init__(
        self,
        codes: ReasonCodes,
        registry: Registry,
        *,
        media_inline_max_bytes: int,
        warning_window: timedelta,
        topic: str,
    ) -> None:
        self.topic = topic
        self.codes = codes
        self.registry = registry
        self.media_inline_max_bytes = media_inline_max_bytes
        self.warning_window = warning_window

    def prepare(
        self,
        body: ReportCreate,
        principal: Principal,
        raw: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> Prepared:
        """The notice as a row and event. ``raw`` is the JSON ``body`` was parsed from, if any.

        With an ``idempotency_key`` the report id is derived from it and the client id: the
        event is published before the row commits, so intake killed in between leaves an event
        on the topic and no row, and the client's retry with the same key must publish the same
        report (same id, same event id, skipped downstream) rather than a second one.

        JSON carries a NUL or a lone surrogate only as a ``\\u`` escape, so a raw body without
        one needs no walk through every string to find them.
        """
        if raw is None or b"\\u" in raw:
            _check_storable(body, ())
        now = utcnow()
        area, category, unknown = self._classify(body, principal.client_id)
        media = self._media(body)
        report_id = (
            uuid.uuid4()
            if idempotency_key is None
            else derive_id("report", principal.client_id, idempotency_key)
        )
        source, kind, flagger_id, authority_id = self._source(body, principal, area)
        report = _report(
            body,
            report_id=report_id,
            now=now,
            client_id=principal.client_id,
            area=area,
            category=category,
            media=media,
        )
        if source is not body.source or flagger_id is not None or kind is not None:
            report = report.model_copy(
                update={"source": source, "trusted_flagger_id": flagger_id, "source_kind": kind}
            )
        publish, standing, held_until, notice = self._standing(body, principal.client_id, area, now)
        event = ReportReceived(
            event_id=report_id, producer="intake", correlation_id=report_id, payload=report
        )
        # Serialised once: these bytes go to the broker, their payload to the JSONB column.
        value = event.to_bytes()
        reporter = body.reporter
        row = {
            "report_id": report_id,
            "client_id": principal.client_id,
            "received_at": now,
            "source": source.value,
            "policy_area": area.value,
            "dsa_category": category.value,
            "subject_type": report.subject.subject_type.value,
            "subject_id": report.subject.subject_id,
            "status": "received" if publish else "held",
            "payload": payload_json(value),
            "reporter_id": reporter.reporter_id,
            "reason_code": body.reason_code,
            "notifier_name": reporter.name,
            "notifier_email": reporter.email,
            "anonymous": report.anonymous,
            "trusted_flagger_id": flagger_id,
            "standing": standing,
            "held_until": held_until,
            "request_hash": request_hash(body),
            "authority_id": authority_id,
        }
        outgoing = Outgoing(row, self.topic, event.key(), value, publish)
        return Prepared(outgoing, notice, unknown, standing == "exempt")

    def _classify(self, body: ReportCreate, client_id: str) -> tuple[PolicyArea, DsaCategory, bool]:
        if body.category is not None:
            return body.category, dsa_category(body.category), False
        if body.reason_code is None:
            return PolicyArea.OTHER, DsaCategory.NOT_SPECIFIED_NOTICE, False
        mapped = self.codes.resolve(client_id, body.reason_code)
        return mapped.policy_area, mapped.dsa_category, not mapped.known

    def _media(self, body: ReportCreate) -> list[Media]:
        out = []
        for i, m in enumerate(body.subject.media):
            if m.data_base64 is not None and len(m.data_base64) > base64_length(
                self.media_inline_max_bytes
            ):
                # The schema's pattern already made it valid base64; only its size is checked.
                raise InvalidFieldError(
                    ("subject", "media", i, "data_base64"),
                    f"inline media over {self.media_inline_max_bytes} bytes; send hashes "
                    "or a uri instead",
                    "too_long",
                )
            out.append(
                Media(
                    media_type=m.media_type,
                    uri=m.uri,
                    data_base64=m.data_base64,
                    md5=m.md5.lower() if m.md5 else None,
                    sha256=m.sha256.lower() if m.sha256 else None,
                    pdq=m.pdq.lower() if m.pdq else None,
                )
            )
        return out

    def _source(
        self, body: ReportCreate, principal: Principal, area: PolicyArea
    ) -> tuple[Source, SourceKind | None, str | None, str | None]:
        """``(source, kind, flagger_id, authority_id)``: orders, referrals, regulators' and
        advertisers' notices and trusted flaggers' notices are the registry's to grant (by the
        sending client or key), never the client's to claim."""
        authority = self.registry.authority_for(principal)
        if authority is not None:
            # An advertiser is no authority: its complaint is a notice, of its own kind.
            coarse = (
                Source.USER_NOTICE
                if authority.kind is SourceKind.ADVERTISER
                else Source.AUTHORITY_ORDER
            )
            return coarse, authority.kind, None, authority.authority_id
        flagger = self.registry.flagger_for(principal)
        if flagger is not None and area in flagger.policy_areas:
            return Source.TRUSTED_FLAGGER, None, flagger.flagger_id, None
        if body.source in (Source.TRUSTED_FLAGGER, Source.AUTHORITY_ORDER):
            return Source.USER_NOTICE, None, None, None
        return body.source, None, None, None

    def _standing(
        self, body: ReportCreate, client_id: str, area: PolicyArea, now: datetime
    ) -> tuple[bool, str | None, datetime | None, str | None]:
        """``(publish, standing, held_until, notice)`` from the reporter's Art. 23 standing."""
        reporter_id = body.reporter.reporter_id
        if reporter_id is None:
            return True, None, None, None
        standing = self.registry.standing_of(client_id, reporter_id)
        if standing is None:
            return True, None, None, None
        if standing.held_until is not None and standing.held_until > now:
            if area is PolicyArea.CHILD_SAFETY:
                # A suspected child-abuse notice is processed whoever sends it; it is counted.
                return True, "exempt", None, None
            return False, "held", standing.held_until, hold_text(standing.held_until)
        if standing.warned_at is not None and standing.warned_at > now - self.warning_window:
            return True, "warned", None, WARNING_TEXT
        return True, None, None, None


def request_hash(body: ReportCreate) -> str:
    """SHA-256 of the notice as validated (defaults filled in, fields in declaration order):
    the same notice sent with other spacing, key order or explicit defaults hashes the same."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def _check_storable(value: object, loc: tuple[str | int, ...]) -> None:
    """PostgreSQL text and JSONB cannot hold NUL or unpaired surrogates: refuse them as 422."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidFieldError(loc, "NUL characters are not allowed", "string_nul")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidFieldError(loc, "unpaired surrogate in text", "string_unicode") from None
    elif isinstance(value, BaseModel):
        for name, item in value.__dict__.items():
            _check_storable(item, (*loc, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_storable(item, (*loc, i))


def _report(
    body: ReportCreate,
    *,
    report_id: uuid.UUID,
    now: datetime,
    client_id: str,
    area: PolicyArea,
    category: DsaCategory,
    media: list[Media],
) -> Report:
    s = body.subject
    text = s.text
    normalised = normalise(text) if text else ""
    urls, flagged = report_urls(s.urls, normalised)
    # Assembled without validating again: every value comes from the validated notice or was
    # computed here with its declared type (the classifier validates the event it reads).
    subject = Subject.unchecked(
        subject_type=s.subject_type,
        subject_id=s.subject_id,
        content_type=s.content_type,
        owner_account_id=s.owner_account_id,
    )
    reporter = body.reporter
    return Report.unchecked(
        report_id=report_id,
        received_at=now,
        client_id=client_id,
        source=body.source,
        reporter_id=reporter.reporter_id,
        subject=subject,
        policy_area=area,
        dsa_category=category,
        reason_code=body.reason_code,
        explanation=body.explanation,
        text=text,
        normalised_text=normalised,
        folded_text=fold(normalised) if normalised else "",
        urls=urls,
        urls_flagged=flagged,
        language=body.language,
        occurred_at=body.occurred_at,
        fingerprint=fingerprint(
            subject_type=subject.subject_type.value,
            subject_id=subject.subject_id,
            content=normalised or None,
            urls=urls,
        ),
        locations=list(body.locations),
        surface=body.surface,
        good_faith=body.good_faith,
        anonymous=reporter.reporter_id is None and reporter.name is None and reporter.email is None,
        reach=body.reach,
        content_ref=s.content_ref,
        media=media,
    )
