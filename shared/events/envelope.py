"""The envelope every event carries, and deterministic ids for idempotent replays."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Namespace for ids derived from other ids: a replayed message derives the same ids again, so
# every downstream effect keyed on them is a no-op the second time.
_ID_NAMESPACE = uuid.UUID("6f1c9a52-3b8e-4d0a-9a57-2f0d3c4b5e61")


_set = object.__setattr__
_NAMESPACE_HASH = hashlib.sha1(_ID_NAMESPACE.bytes, usedforsecurity=False)
# RFC 4122 version 5, variant 10: clear the version and variant bits, then set them.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (5 << 76) | (0x8000 << 48)
_UNKNOWN = uuid.SafeUUID.unknown


def derive_id(kind: str, *parts: object) -> uuid.UUID:
    """A UUID that is a pure function of ``kind`` and ``parts``: ``uuid.uuid5`` of the namespace
    and ``kind:part:part``, computed on hot paths without hashing the namespace again or going
    through the general ``UUID`` constructor (a third of the time)."""
    digest = _NAMESPACE_HASH.copy()
    name = kind + ":" + ":".join([p if isinstance(p, str) else str(p) for p in parts])
    digest.update(name.encode())
    value = (int.from_bytes(digest.digest()[:16], "big") & _CLEAR) | _SET
    derived = object.__new__(uuid.UUID)
    _set(derived, "int", value)
    _set(derived, "is_safe", _UNKNOWN)
    return derived


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


# Per model class: a template of its fields in declaration order (static defaults filled in,
# required fields as placeholders) and the fields whose default comes from a factory.
_TEMPLATES: dict[type, tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]] = {}


def _template_of(cls: type[BaseModel]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    template: dict[str, Any] = {}
    factories: list[tuple[str, Any]] = []
    for name, info in cls.model_fields.items():
        template[name] = None if info.is_required() else info.default
        if info.default_factory is not None:
            factories.append((name, info.default_factory))
    found = (template, tuple(factories))
    _TEMPLATES[cls] = found
    return found


class Model(BaseModel):
    """Base of every event and payload model.

    Strict where events are made: building a model in code with a field it does not declare is
    an error, so a producer cannot emit a misspelt or undeclared field. Tolerant where events
    are read: ``Event.from_bytes`` ignores fields it does not know, at every level (see there).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    @classmethod
    def unchecked(cls, **values: Any) -> Self:
        """An instance from values that are already typed and valid, without validating them.

        For hot paths that assemble events from parts that were validated on the way in: it
        does what ``model_construct`` does (missing fields take their defaults) in a third of
        the time. The values are trusted: give every required field, with its declared type.
        """
        template, factories = _TEMPLATES.get(cls) or _template_of(cls)
        data = template.copy()  # keeps the declared order, which the JSON output follows
        data.update(values)
        for name, factory in factories:
            if name not in values:
                data[name] = factory()
        model = cls.__new__(cls)
        _set(model, "__dict__", data)
        _set(model, "__pydantic_fields_set__", set(values))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model


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
        # The serializer's bytes as they are: ``model_dump_json().encode()`` would decode
        # them to a str and encode that again (1.4 of 10.7 us for a classified report).
        data: bytes = self.__pydantic_serializer__.to_json(self)
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """The event a consumer reads, ignoring fields this version does not declare.

        A tolerant reader: a producer may add an optional field to a v1 event (in the envelope
        or anywhere in the payload) and consumers built before it read the event as they did,
        instead of dead-lettering it. Everything declared is validated as strictly as ever. The
        same compiled validator runs with its ``extra`` behaviour overridden for the call, so
        parsing costs what it did.
        """
        return cls.model_validate_json(data, extra="ignore")
