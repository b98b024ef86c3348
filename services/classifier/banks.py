"""Hash banks: the in-memory index the hash signal reads, and the queries that fill it.

The index is an immutable snapshot; a refresh builds a new one and swaps the reference, so the
signal (running in a worker thread) never sees a half-loaded bank.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.classifier.hashing import hamming, hex_to_bytes
from services.classifier.models import bank_hashes, hash_banks
from shared.taxonomy import PolicyArea

logger = logging.getLogger(__name__)

HASH_KINDS = ("pdq", "md5", "sha256")


@dataclass(frozen=True, slots=True)
class BankInfo:
    name: str
    source: str
    policy_area: PolicyArea
    version: int


@dataclass(frozen=True, slots=True)
class PdqMatch:
    bank: str
    distance: int


@dataclass(frozen=True)
class BankIndex:
    """Every enabled hash of every enabled bank."""

    banks: dict[str, BankInfo] = field(default_factory=dict)
    exact: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, hex) -> bank
    pdq: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, 32), np.uint8))
    pdq_banks: tuple[str, ...] = ()

    @classmethod
    def build(cls, banks: list[BankInfo], rows: list[tuple[str, str, str]]) -> BankIndex:
        """From bank infos and ``(bank, kind, hex)`` rows (enabled only)."""
        exact: dict[tuple[str, str], str] = {}
        pdq_rows: list[npt.NDArray[np.uint8]] = []
        pdq_banks: list[str] = []
        for bank, kind, value in rows:
            if kind == "pdq":
                pdq_rows.append(hex_to_bytes(value))
                pdq_banks.append(bank)
            else:
                exact.setdefault((kind, value), bank)
        pdq = np.stack(pdq_rows) if pdq_rows else np.zeros((0, 32), np.uint8)
        return cls({b.name: b for b in banks}, exact, pdq, tuple(pdq_banks))

    def versions(self) -> dict[str, str]:
        return {f"bank:{b.name}": f"v{b.version}" for b in self.banks.values()}

    def match_exact(self, kind: str, value: str) -> str | None:
        return self.exact.get((kind, value))

    def match_pdq(self, queries: npt.NDArray[np.uint8], threshold: int) -> PdqMatch | None:
        """The closest banked hash to any of the query hashes, if within ``threshold``."""
        if not len(self.pdq) or not len(queries):
            return None
        distances = hamming(queries, self.pdq).min(axis=0)
        best = int(distances.argmin())
        d = int(distances[best])
        return PdqMatch(self.pdq_banks[best], d) if d <= threshold else None


async def load_index(engine: AsyncEngine) -> BankIndex:
    async with engine.connect() as conn:
        bank_rows = (
            await conn.execute(select(hash_banks).where(hash_banks.c.enabled.is_(True)))
        ).all()
        banks = [
            BankInfo(r.name, r.source, PolicyArea(r.policy_area), r.version) for r in bank_rows
        ]
        names = [b.name for b in banks]
        hash_rows = (
            await conn.execute(
                select(bank_hashes.c.bank_name, bank_hashes.c.kind, bank_hashes.c.value).where(
                    bank_hashes.c.enabled.is_(True), bank_hashes.c.bank_name.in_(names)
                )
            )
        ).all()
    return BankIndex.build(banks, [(r.bank_name, r.kind, r.value) for r in hash_rows])


class BankStore:
    """Holds the current index and refreshes it from PostgreSQL every ``interval`` seconds."""

    def __init__(self, engine: AsyncEngine | None = None, interval: float = 30.0) -> None:
        self.engine = engine
        self.interval = interval
        self.index = BankIndex()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        if self.engine is not None:
            self.index = await load_index(self.engine)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="bank-refresh")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:
                # Keep matching with the last good index; the next refresh may succeed.
                logger.warning("hash bank refresh failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
