"""Export the event models as JSON Schema files, committed so tools in any language can read them.

``python -m shared.events.export`` rewrites ``shared/events/schemas/``; a test fails on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events.models import EVENT_TYPES

SCHEMA_DIR = Path(__file__).with_name("schemas")


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.schema.json"


def render_schemas() -> dict[str, str]:
    """File name to JSON text for every event model."""
    out: dict[str, str] = {}
    for cls in EVENT_TYPES:
        event_type = cls.model_fields["event_type"].default
        schema: dict[str, Any] = cls.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"tns:{event_type}.v{cls.SCHEMA_VERSION}"
        text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        out[schema_file_name(event_type, cls.SCHEMA_VERSION)] = text
    return out


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
