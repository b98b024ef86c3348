import json
from pathlib import Path

import jsonschema

from shared.events.export import SCHEMA_DIR, render_schemas
from tests.factories import make_classified, make_decision, make_received


def test_committed_event_schemas_match_the_models() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert committed == rendered, "run `python -m shared.events.export` and commit the result"


def test_sample_events_validate_against_their_committed_schemas() -> None:
    samples = {
        "ReportReceived.v1.schema.json": make_received(),
        "ReportClassified.v1.schema.json": make_classified(),
        "DecisionMade.v1.schema.json": make_decision(),
    }
    for name, event in samples.items():
        schema = json.loads((SCHEMA_DIR / name).read_text())
        jsonschema.validate(json.loads(event.to_bytes()), schema)


def test_events_round_trip_through_bytes_unchanged() -> None:
    event = make_classified()
    assert type(event).from_bytes(event.to_bytes()) == event


def test_schema_dir_is_inside_the_shared_package() -> None:
    assert Path(SCHEMA_DIR).parent.name == "events"
