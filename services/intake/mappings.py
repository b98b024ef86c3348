"""Client reason codes mapped to our policy areas and DSA categories, from YAML files.

Each file in the mappings folder names a client (``client_id``; ``default`` applies to every
client without a file of its own, and to codes a client's file does not list). Files are read and
validated once at start-up: a bad file stops the service with a message naming the file and the
field. An unknown reason code is never an error: it maps to the file's ``unknown`` policy area and
the DSA category ``NOT_SPECIFIED_NOTICE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.taxonomy import DsaCategory, PolicyArea, dsa_category

DEFAULT_CLIENT = "default"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the problem."""


class CodeMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_area: PolicyArea
    dsa_category: DsaCategory | None = Field(
        default=None, description="Overrides the policy area's usual DSA category."
    )


class MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="Bumped by whoever edits the file.")
    client_id: str = Field(min_length=1, max_length=256)
    unknown: PolicyArea = Field(
        default=PolicyArea.OTHER, description="Policy area for codes the file does not list."
    )
    codes: dict[str, CodeMapping] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Mapped:
    policy_area: PolicyArea
    dsa_category: DsaCategory
    known: bool


class ReasonCodes:
    """Every client's mapping, resolved in memory (the hot path does no I/O)."""

    def __init__(self, files: dict[str, MappingFile]) -> None:
        self.files = files
        self._default = files.get(DEFAULT_CLIENT, MappingFile(version=1, client_id=DEFAULT_CLIENT))

    def versions(self) -> dict[str, int]:
        return {client: f.version for client, f in self.files.items()}

    def resolve(self, client_id: str, code: str) -> Mapped:
        own = self.files.get(client_id)
        for mapping in (own, self._default):
            if mapping is not None and code in mapping.codes:
                hit = mapping.codes[code]
                category = hit.dsa_category or dsa_category(hit.policy_area)
                return Mapped(hit.policy_area, category, known=True)
        unknown = (own or self._default).unknown
        return Mapped(unknown, DsaCategory.NOT_SPECIFIED_NOTICE, known=False)


def load_mappings(folder: Path) -> ReasonCodes:
    """Read and validate every ``*.yaml`` / ``*.yml`` file in ``folder``."""
    if not folder.is_dir():
        raise MappingError(f"reason-code mappings folder {folder} does not exist")
    files: dict[str, MappingFile] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MappingError(f"{path}: not readable YAML: {exc}") from None
        try:
            parsed = MappingFile.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise MappingError(f"{path}: {problems}") from None
        bad = [c for c in parsed.codes if not _valid_code(c)]
        if bad:
            raise MappingError(f"{path}: invalid reason codes {bad}")
        if parsed.client_id in files:
            raise MappingError(f"{path}: client {parsed.client_id!r} is mapped by two files")
        files[parsed.client_id] = parsed
    return ReasonCodes(files)


def _valid_code(code: str) -> bool:
    return _CODE.match(code) is not None
