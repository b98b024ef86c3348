"""Turns a client's report into the canonical ``ReportReceived`` event. Pure, no I/O."""

from __future__ import annotations

import uuid

from services.intake.schemas import ReportCreate
from shared.events import Report, ReportReceived, Subject, utcnow
from shared.taxonomy import dsa_category
from shared.text import canonicalise_url, extract_urls, fingerprint, fold, normalise


def build_event(body: ReportCreate, *, client_id: str) -> ReportReceived:
    report_id = uuid.uuid4()
    text = body.subject.text
    normalised = normalise(text) if text else ""
    urls: list[str] = []
    for raw in [*body.subject.urls, *extract_urls(normalised)]:
        canonical = canonicalise_url(raw)
        if canonical is not None and canonical.url not in urls:
            urls.append(canonical.url)
    subject = Subject(
        subject_type=body.subject.subject_type,
        subject_id=body.subject.subject_id,
        content_type=body.subject.content_type,
        owner_account_id=body.subject.owner_account_id,
    )
    report = Report(
        report_id=report_id,
        received_at=utcnow(),
        client_id=client_id,
        source=body.source,
        reporter_id=body.reporter.reporter_id,
        subject=subject,
        policy_area=body.category,
        dsa_category=dsa_category(body.category),
        reason_code=body.reason_code,
        explanation=body.explanation,
        text=text,
        normalised_text=normalised,
        folded_text=fold(normalised) if normalised else "",
        urls=urls,
        language=body.language,
        occurred_at=body.occurred_at,
        fingerprint=fingerprint(
            subject_type=subject.subject_type.value,
            subject_id=subject.subject_id,
            content=normalised or None,
            urls=urls,
        ),
    )
    return ReportReceived(
        event_id=report_id,
        producer="intake",
        correlation_id=report_id,
        payload=report,
    )
