"""Builders for test data: one place that knows a valid report, decision or request body."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel

from shared.events import (
    ActionType,
    Actor,
    Classification,
    ClassifiedReport,
    ContentType,
    DecidedBy,
    Decision,
    DecisionMade,
    Event,
    Outcome,
    Report,
    ReportClassified,
    ReportReceived,
    Source,
    Subject,
    SubjectType,
    derive_id,
    utcnow,
)
from shared.taxonomy import PolicyArea, dsa_category
from shared.text import fold, normalise, report_urls


def make_report(text: str = "hello there", **overrides: Any) -> Report:
    area = overrides.pop("policy_area", PolicyArea.HARASSMENT)
    subject_id = overrides.pop("subject_id", f"msg-{uuid.uuid4().hex[:8]}")
    values: dict[str, Any] = {
        "report_id": uuid.uuid4(),
        "received_at": utcnow(),
        "client_id": "test-client",
        "source": Source.USER_NOTICE,
        "reporter_id": "reporter-1",
        "subject": Subject(
            subject_type=SubjectType.CONTENT,
            subject_id=subject_id,
            content_type=ContentType.TEXT,
            owner_account_id="acct-1",
        ),
        "policy_area": area,
        "dsa_category": dsa_category(area),
        "text": text,
        "normalised_text": normalise(text),
        "folded_text": fold(text),
        "fingerprint": "f" * 64,
    }
    values.update(overrides)
    # As intake does: the URLs given with the notice and those in its text.
    values["urls"], flagged = report_urls(values.get("urls", []), values["normalised_text"])
    values.setdefault("urls_flagged", flagged)
    return Report(**values)


def make_received(report: Report | None = None, **overrides: Any) -> ReportReceived:
    report = report or make_report(**overrides)
    return ReportReceived(
        event_id=report.report_id, producer="test", correlation_id=report.report_id, payload=report
    )


def make_classified(
    report: Report | None = None, scores: dict[PolicyArea, float] | None = None
) -> ReportClassified:
    report = report or make_report()
    scores = scores or {report.policy_area: 0.5}
    top = max(scores.items(), key=lambda kv: kv[1])
    return ReportClassified(
        event_id=derive_id("classified", report.report_id),
        producer="test",
        correlation_id=report.report_id,
        payload=ClassifiedReport(
            report=report,
            classification=Classification(
                scores=scores,
                top_policy_area=top[0],
                top_score=top[1],
                signals=[],
                versions={"rules": "test"},
            ),
        ),
    )


def make_decision(
    *,
    subject_id: str | None = None,
    action: ActionType | None = ActionType.REMOVE_CONTENT,
    report_id: uuid.UUID | None = None,
) -> DecisionMade:
    report_id = report_id or uuid.uuid4()
    decision_id = derive_id("decision", report_id)
    return DecisionMade(
        event_id=derive_id("event", decision_id),
        producer="test",
        correlation_id=report_id,
        payload=Decision(
            decision_id=decision_id,
            report_id=report_id,
            subject=Subject(
                subject_type=SubjectType.CONTENT,
                subject_id=subject_id or f"msg-{uuid.uuid4().hex[:8]}",
                content_type=ContentType.TEXT,
            ),
            policy_area=PolicyArea.HARASSMENT,
            dsa_category=dsa_category(PolicyArea.HARASSMENT),
            source=Source.USER_NOTICE,
            outcome=Outcome.ACTION if action else Outcome.NO_ACTION,
            action=action,
            decided_by=DecidedBy.AUTOMATED,
            actor=Actor(kind="policy", actor_id="router:test", versions={"policy": "test"}),
            reason="test",
            score=0.99,
            decided_at=utcnow(),
        ),
    )


def report_body(text: str = "hello there", **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /v1/reports`` body."""
    body: dict[str, Any] = {
        "subject": {
            "subject_type": "content",
            "subject_id": f"msg-{uuid.uuid4().hex[:8]}",
            "content_type": "text",
            "text": text,
        },
        "category": "harassment",
        "reporter": {"reporter_id": "user-1"},
    }
    body.update(overrides)
    return body


FUTURE_FIELD = "added_in_a_later_version"


def add_future_fields(data: Any, value: Any) -> int:
    """Adds an undeclared field to every JSON object of ``data`` that is a model in ``value`` (the
    same event parsed), at every depth; returns how many objects got one."""
    if isinstance(value, BaseModel):
        added = 1
        for name in type(value).model_fields:
            added += add_future_fields(data[name], getattr(value, name))
        data[FUTURE_FIELD] = {"kind": "object", "items": [1, "two", None]}
        return added
    if isinstance(value, list):
        return sum(add_future_fields(d, v) for d, v in zip(data, value, strict=True))
    if isinstance(value, dict):
        pairs = zip(data.values(), value.values(), strict=True)
        return sum(add_future_fields(d, v) for d, v in pairs)
    return 0


def as_newer_producer_writes_it(event: Event) -> bytes:
    """The event's bytes as a later version of its producer would send them: the same event with
    an optional field this version does not declare on every object, envelope to leaves."""
    data = json.loads(event.to_bytes())
    add_future_fields(data, event)
    return json.dumps(data).encode()
