"""Hash matching of a report's media against the banks: PDQ within a distance, MD5/SHA-256 exact."""

from __future__ import annotations

import base64
import binascii
import contextlib

import numpy as np

from services.classifier.banks import BankIndex, BankStore
from services.classifier.hashing import file_hashes, hex_to_bytes, pdq_dihedral
from shared.events import ContentType, Media, Report, SignalResult

HASH_SIGNAL_PREFIX = "hash:"


def bank_of(result: SignalResult) -> str | None:
    """The bank a hash-match result names, or None for any other result."""
    if result.name.startswith(HASH_SIGNAL_PREFIX):
        return result.name[len(HASH_SIGNAL_PREFIX) :]
    return None


class HashSignal:
    """A match is strong evidence (score 1) for the policy area of the bank it is in.

    Inline images are hashed with all eight rotations and flips, so a rotated or mirrored copy
    of a banked image still matches; hashes a client sent along are matched as given.
    """

    name = "hashes"

    def __init__(self, store: BankStore, pdq_threshold: int) -> None:
        self.store = store
        self.threshold = pdq_threshold

    @property
    def version(self) -> str:
        index = self.store.index
        # Each bank's own version is in Classification.versions as "bank:<name>".
        return f"banks-{len(index.banks)}"

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        index = self.store.index
        out: list[list[SignalResult]] = []
        for report in reports:
            if not report.media or not index.banks:
                out.append([])
                continue
            found: dict[str, SignalResult] = {}
            for media in report.media:
                for bank, detail in self._match(index, media):
                    if bank not in found:
                        found[bank] = SignalResult(
                            name=f"{HASH_SIGNAL_PREFIX}{bank}",
                            version=f"v{index.banks[bank].version}",
                            policy_area=index.banks[bank].policy_area,
                            score=1.0,
                            weight=1.0,
                            detail=f"bank {bank} ({index.banks[bank].source}): {detail}",
                        )
            out.append(list(found.values()))
        return out

    def _match(self, index: BankIndex, media: Media) -> list[tuple[str, str]]:
        matches: list[tuple[str, str]] = []
        md5, sha256, pdq = media.md5, media.sha256, media.pdq
        queries = [hex_to_bytes(pdq)] if pdq else []
        if media.data_base64:
            try:
                data = base64.b64decode(media.data_base64, validate=True)
            except (binascii.Error, ValueError):
                data = b""
            if data:
                hashes = file_hashes(data, image=False)
                md5, sha256 = md5 or hashes.md5, sha256 or hashes.sha256
                if media.media_type is ContentType.IMAGE and len(index.pdq):
                    # Not a decodable image: the exact hashes still apply.
                    with contextlib.suppress(ValueError):
                        queries.extend(pdq_dihedral(data))
        for kind, value in (("md5", md5), ("sha256", sha256)):
            if value and (bank := index.match_exact(kind, value)) is not None:
                matches.append((bank, f"{kind} exact match"))
        if queries:
            hit = index.match_pdq(np.stack(queries), self.threshold)
            if hit is not None:
                matches.append((hit.bank, f"pdq distance {hit.distance}"))
        return matches
