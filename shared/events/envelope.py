"""The envelope every event carries, and deterministic ids for idempotent replays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Namespace for ids derived from other ids: a replayed message derives the same ids again, so
# every downstream effect keyed on them is a no-op the second time.
_ID_NAMESPACE = uuid.UUID("6f1c9a52-3b8e-4d0a-9a57-2f0d3c4b5e61")


def derive_id(kind: str, *parts: object) -> uuid.UUID:
    """A UUID that is a pure function of ``kind`` and ``parts`` (UUIDv5)."""
    return uuid.uuid5(_ID_NAMESPACE, kind + ":" + ":".join(str(p) for p in parts))


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Model(BaseModel):
    """Base of every event and payload model: strict about unknown fields on the way in."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Event(Model):
    """The envelope. Subclasses fix ``event_type`` and add a typed ``payload``."""

    TOPIC: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    producer: str
    correlation_id: uuid.UUID = Field(description="The report id, end to end.")
    causation_id: uuid.UUID | None = Field(
        default=None, description="The event_id of the event that caused this one."
    )
    payload: Any

    def key(self) -> bytes:
        """The partition key: the subject, so events about one subject stay in order."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls.model_validate_json(data)
