"""Export the event models as JSON Schema files, committed so tools in any language can read them.

``python -m shared.events.export`` rewrites ``shared/events/schemas/``; a test fails on drift.

The schemas are the readers' contract, so they leave ``additionalProperties`` open on every
object of an event (the models forbid unknown fields, which pydantic would write as
``"additionalProperties": false``). A v1 event may gain optional fields; a reader that validated
against a closed schema would reject those events, which is the failure tolerant reading exists
to avoid. What producers may emit is narrower: only the properties listed, which the Python
models enforce when an event is built and the golden samples in ``tests/golden`` pin down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events.models import EVENT_TYPES

SCHEMA_DIR = Path(__file__).with_name("schemas")

READERS_COMMENT = (
    "Readers ignore properties not listed here: a v1 event may gain optional fields. "
    "Producers emit only the properties listed."
)


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.schema.json"


def render_schemas() -> dict[str, str]:
    """File name to JSON text for every event model."""
    out: dict[str, str] = {}
    for cls in EVENT_TYPES:
        event_type = cls.model_fields["event_type"].default
        schema: dict[str, Any] = cls.model_json_schema(mode="serialization")
        _open_objects(schema)
        schema["$comment"] = READERS_COMMENT
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"tns:{event_type}.v{cls.SCHEMA_VERSION}"
        text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        out[schema_file_name(event_type, cls.SCHEMA_VERSION)] = text
    return out


def _open_objects(node: Any) -> None:
    """Drop ``"additionalProperties": false`` from every object with declared properties; a
    mapping's ``additionalProperties`` (the schema of its values) stays."""
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is False:
            del node["additionalProperties"]
        for value in node.values():
            _open_objects(value)
    elif isinstance(node, list):
        for value in node:
            _open_objects(value)


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas():
        print(p)
