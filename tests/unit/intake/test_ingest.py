"""A notice becomes one serialised event whose payload is exactly the stored row's payload."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest

from services.intake.ingest import Ingestor, InvalidFieldError, payload_json
from services.intake.mappings import load_mappings
from services.intake.registry import Registry
from services.intake.schemas import ReportCreate
from services.intake.settings import DEFAULT_MAPPINGS
from shared.apikeys import Principal
from shared.events import ReportReceived

PRINCIPAL = Principal("key-1", "client-a", frozenset({"reports:write"}))
BODY = {
    "reporter": {"reporter_id": "user-1", "name": "Ana", "email": "ana@example.org"},
    "subject": {
        "subject_type": "content",
        "subject_id": "msg-1",
        "text": 'see hxxp://evil[.]com/x?utm_source=a and a ,"payload": decoy',
    },
    "reason_code": "harassment",
    "explanation": "Insults.",
}


def _ingestor() -> Ingestor:
    registry = Registry(engine=None, refresh_seconds=0)  # type: ignore[arg-type]
    return Ingestor(
        load_mappings(DEFAULT_MAPPINGS),
        registry,
        media_inline_max_bytes=1024,
        warning_window=timedelta(days=90),
        topic="tns.reports.received.v1",
    )


def test_the_broker_gets_the_event_and_the_row_its_payload_without_personal_data() -> None:
    raw = orjson.dumps(BODY)
    prepared = _ingestor().prepare(ReportCreate.model_validate_json(raw), PRINCIPAL, raw)
    out = prepared.outgoing
    event = ReportReceived.from_bytes(out.value)
    assert out.key == b"msg-1" and out.topic == "tns.reports.received.v1" and out.publish
    assert json.loads(out.row["payload"]) == event.payload.model_dump(mode="json")
    assert event.payload.urls == ["http://evil.com/x"]
    assert out.row["notifier_email"] == "ana@example.org"
    assert b"ana@example.org" not in out.value and b"Ana" not in out.value


def test_payload_json_refuses_what_is_not_an_envelope() -> None:
    with pytest.raises(ValueError):
        payload_json(b'{"event_id": "x"}')


def test_a_nul_sent_as_an_escape_is_refused_with_its_path() -> None:
    raw = orjson.dumps(BODY).replace(b"Insults.", b"nul \\u0000 here")
    body = ReportCreate.model_validate(json.loads(raw))
    with pytest.raises(InvalidFieldError) as caught:
        _ingestor().prepare(body, PRINCIPAL, raw)
    assert caught.value.loc == ("explanation",)


def test_a_retry_with_the_same_key_is_the_same_report_and_event() -> None:
    """Intake publishes before its row commits: killed in between, it leaves an event and no
    row. The client's retry with the same key must publish that same report (same id, same
    event id, skipped downstream), not a second report about the same notice."""
    raw = orjson.dumps(BODY)
    body = ReportCreate.model_validate_json(raw)
    ingestor = _ingestor()
    first = ReportReceived.from_bytes(
        ingestor.prepare(body, PRINCIPAL, raw, "key-7").outgoing.value
    )
    retry = ReportReceived.from_bytes(
        ingestor.prepare(body, PRINCIPAL, raw, "key-7").outgoing.value
    )
    other_client = Principal("key-2", "client-b", frozenset({"reports:write"}))
    elsewhere = ingestor.prepare(body, other_client, raw, "key-7").outgoing.report_id
    unkeyed = {ingestor.prepare(body, PRINCIPAL, raw).outgoing.report_id for _ in range(2)}
    assert retry.event_id == first.event_id and retry.payload.report_id == first.payload.report_id
    assert elsewhere != first.payload.report_id  # keys are per client
    assert len(unkeyed) == 2  # without a key every request is a new notice
