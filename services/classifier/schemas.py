"""HTTP request and response models of the hash-bank API."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from services.classifier.hashing import FileHashes, file_hashes
from shared.taxonomy import PolicyArea

_HEX_LENGTH = {"pdq": 64, "md5": 32, "sha256": 64}
_HEX = re.compile(r"^[0-9a-f]+$")
MAX_IMAGE_BYTES = 4 * 1024 * 1024


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="Unique bank name.")
    source: str = Field(min_length=1, max_length=200, description="Who supplied the hashes.")
    policy_area: PolicyArea
    enabled: bool = True


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


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
    model_config = ConfigDict(extra="forbid")

    kind: Literal["pdq", "md5", "sha256"]
    value: str = Field(description="Lower-case hex: 64 for PDQ and SHA-256, 32 for MD5.")
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _hex_of_kind(self) -> HashIn:
        self.value = self.value.lower()
        if len(self.value) != _HEX_LENGTH[self.kind] or not _HEX.match(self.value):
            raise ValueError(f"a {self.kind} hash is {_HEX_LENGTH[self.kind]} hex digits")
        return self


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_base64: str = Field(description="The image file, base64; hashed, never stored.")
    note: str = Field(default="", max_length=500)
    _hashes: FileHashes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _hash_image(self) -> ImageIn:
        # Hashed while validating, so an undecodable image is a 422 naming its index.
        try:
            data = base64.b64decode(self.data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not valid base64") from exc
        if not data:
            raise ValueError("empty image")
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"image larger than {MAX_IMAGE_BYTES} bytes")
        self._hashes = file_hashes(data, image=True)
        return self

    @property
    def hashes(self) -> FileHashes:
        assert self._hashes is not None
        return self._hashes


class HashesAdd(BaseModel):
    """Hashes to add as given, and images to hash (PDQ, MD5 and SHA-256 of each)."""

    model_config = ConfigDict(extra="forbid")

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

    enabled: bool
