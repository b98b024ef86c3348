import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from shared.events import EVENT_TYPES, Event, Subject
from shared.events.export import SCHEMA_DIR, render_schemas, schema_file_name
from tests.factories import add_future_fields, make_classified, make_decision

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


def golden_path(cls: type[Event]) -> Path:
    return GOLDEN_DIR / f"{cls.model_fields['event_type'].default}.v{cls.SCHEMA_VERSION}.json"


def committed_schema(cls: type[Event]) -> dict[str, Any]:
    name = schema_file_name(cls.model_fields["event_type"].default, cls.SCHEMA_VERSION)
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text())
    return schema


EVENTS = pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)


def test_committed_event_schemas_match_the_models() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert committed == rendered, "run `make schemas` and commit the result"


def test_every_event_type_has_a_golden_sample() -> None:
    expected = {golden_path(cls).name for cls in EVENT_TYPES}
    assert {p.name for p in GOLDEN_DIR.glob("*.json")} == expected


@EVENTS
def test_golden_sample_parses_strictly_and_round_trips(cls: type[Event]) -> None:
    text = golden_path(cls).read_text()
    # Strict: the sample holds only declared fields, as a producer emits them.
    event = cls.model_validate_json(text)
    assert json.loads(event.to_bytes()) == json.loads(text), (
        "the model no longer writes this sample back as it is: a field was renamed, removed or "
        "added. An added optional field goes into the sample with a realistic value."
    )
    assert cls.from_bytes(text.encode()) == event


@EVENTS
def test_golden_sample_validates_against_its_committed_schema(cls: type[Event]) -> None:
    jsonschema.validate(json.loads(golden_path(cls).read_text()), committed_schema(cls))


@EVENTS
def test_fields_added_at_every_level_are_ignored_when_read(cls: type[Event]) -> None:
    text = golden_path(cls).read_text()
    expected = cls.from_bytes(text.encode())
    data = json.loads(text)
    added = add_future_fields(data, expected)
    assert added >= 2  # the envelope, the payload and every object inside it
    newer = json.dumps(data).encode()

    assert cls.from_bytes(newer) == expected
    # The same bytes are rejected by a strict parse, once per object that gained the field.
    with pytest.raises(ValidationError) as raised:
        cls.model_validate_json(newer)
    assert [e["type"] for e in raised.value.errors()] == ["extra_forbidden"] * added
    # A non-Python reader validating against the committed schema accepts them too.
    jsonschema.validate(json.loads(newer), committed_schema(cls))


@EVENTS
def test_declared_fields_are_still_validated_when_read(cls: type[Event]) -> None:
    data = json.loads(golden_path(cls).read_text())
    data["correlation_id"] = "not-a-uuid"
    with pytest.raises(ValidationError) as raised:
        cls.from_bytes(json.dumps(data).encode())
    assert raised.value.errors()[0]["loc"] == ("correlation_id",)


def test_building_an_event_with_an_undeclared_field_is_an_error() -> None:
    event = make_decision()
    with pytest.raises(ValidationError, match="reviewer_note"):
        type(event)(**dict(event), reviewer_note="x")
    with pytest.raises(ValidationError, match="region"):
        Subject(subject_type="content", subject_id="c-1", content_type="text", region="eu")  # type: ignore[call-arg]


def test_events_round_trip_through_bytes_unchanged() -> None:
    event = make_classified()
    assert type(event).from_bytes(event.to_bytes()) == event


def test_schema_dir_is_inside_the_shared_package() -> None:
    assert Path(SCHEMA_DIR).parent.name == "events"
