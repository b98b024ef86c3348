"""HTTP request and response models of the hash-bank API."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, model_validator

from services.classifier.hashing import FileHashes, file_hashes
from shared.taxonomy import PolicyArea

_HEX_LENGTH = {"pdq": 64, "md5": 32, "sha256": 64}
_HEX = re.compile(r"^[0-9a-f]+$")
MAX_IMAGE_BYTES = 4 * 1024 * 1024
# No image format fits in fewer bytes (the smallest GIF is 26).
MIN_IMAGE_BYTES = 24


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="Unique bank name.")
    source: str = Field(min_length=1, max_length=200, description="Who supplied the hashes.")
    policy_area: PolicyArea
    enabled: StrictBool = True


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool


class BankRead(BaseModel):
    name: str
    source: str
    policy_area: PolicyArea
    enabled: bool
    version: int = Field(description="Increases on every change to the bank or its hashes.")
    hash_count: int = Field(description="Enabled hashes.")
    created_at: datetime
    updated_at: datetime


class HashIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "kind": {"const": kind},
                        "value": {"pattern": f"^[0-9a-fA-F]{{{length}}}$"},
                    }
                }
                for kind, length in _HEX_LENGTH.items()
            ]
        },
    )

    kind: Literal["pdq", "md5", "sha256"]
    value: str = Field(
        pattern=r"^(?:[0-9a-fA-F]{32}){1,2}$",
        description="Hex (stored lower-case): 64 digits for PDQ and SHA-256, 32 for MD5.",
    )
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _hex_of_kind(self) -> HashIn:
        self.value = self.value.lower()
        if len(self.value) != _HEX_LENGTH[self.kind] or not _HEX.match(self.value):
            raise ValueError(f"a {self.kind} hash is {_HEX_LENGTH[self.kind]} hex digits")
        return self


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_base64: str = Field(
        min_length=4 * ((MIN_IMAGE_BYTES + 2) // 3),
        max_length=4 * ((MAX_IMAGE_BYTES + 2) // 3),
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        description="The image file (4 MiB at most, 32 base64 characters at least), base64; "
        "hashed, never stored. A file no image decoder reads gets its MD5 and SHA-256 only.",
    )
    note: str = Field(default="", max_length=500)
    _hashes: FileHashes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _hash_image(self) -> ImageIn:
        # The pattern and lengths made it the base64 text of 22 to MAX_IMAGE_BYTES bytes.
        data = base64.b64decode(self.data_base64)
        try:
            self._hashes = file_hashes(data, image=True)
        except ValueError:
            self._hashes = file_hashes(data, image=False)
        return self

    @property
    def hashes(self) -> FileHashes:
        assert self._hashes is not None
        return self._hashes


class HashesAdd(BaseModel):
    """Hashes to add as given, and images to hash (PDQ, MD5 and SHA-256 of each)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"minItems": 1}}}
                for name in ("hashes", "images")
            ]
        },
    )

    hashes: list[HashIn] = Field(default_factory=list, max_length=10_000)
    images: list[ImageIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _not_empty(self) -> HashesAdd:
        if not self.hashes and not self.images:
            raise ValueError("give at least one hash or image")
        return self


class HashRead(BaseModel):
    hash_id: int
    bank_name: str
    kind: str
    value: str
    enabled: bool
    note: str
    added_at: datetime


class HashesAdded(BaseModel):
    added: int = Field(description="Hashes new to the bank (already present ones are skipped).")
    hashes: list[HashRead] = Field(description="Every hash of the request, new or not.")


class HashUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool
