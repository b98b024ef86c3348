"""Trusted flaggers (DSA Art. 22), authorities and reporter standing (Art. 23), cached.

A notice is a trusted flagger's, or comes from an authority (court order, law enforcement,
regulator) or an advertiser, only when it comes with a client or API key registered as such
(``flaggers`` and ``authorities`` commands, the latter with the source's kind); a client cannot
claim any of them.

Both tables are small. Each replica keeps them in memory and reloads them every
``refresh_seconds``, so a change made by the ``flaggers`` command or by another replica's
consumer applies everywhere within that time; this replica's own consumer updates it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.models import authorities, reporter_standing, trusted_flaggers
from shared.apikeys import Principal
from shared.events import SourceKind
from shared.taxonomy import PolicyArea

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Flagger:
    flagger_id: str
    name: str
    client_id: str | None
    key_id: str | None
    policy_areas: frozenset[PolicyArea]

    def covers(self, principal: Principal) -> bool:
        if self.key_id is not None:
            return principal.key_id == self.key_id
        return principal.client_id == self.client_id


@dataclass(frozen=True, slots=True)
class Authority:
    """A registered source of its own kind: a court or other authority issuing legal orders,
    law enforcement, a regulator, or an advertiser (brand-safety complaints)."""

    authority_id: str
    name: str
    client_id: str | None
    key_id: str | None
    kind: SourceKind = SourceKind.LEGAL_ORDER


@dataclass(frozen=True, slots=True)
class Standing:
    warned_at: datetime | None
    held_until: datetime | None


class Registry:
    def __init__(self, engine: AsyncEngine, refresh_seconds: float) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._flaggers: list[Flagger] = []
        self._authorities: list[Authority] = []
        self._standing: dict[tuple[str, str], Standing] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        if self.refresh_seconds > 0:
            self._task = asyncio.create_task(self._run(), name="intake-registry-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                # Keep serving with the last good copy; the next round tries again.
                logger.warning("registry refresh failed", exc_info=True)

    async def refresh(self) -> None:
        async with self.engine.connect() as conn:
            flaggers = await conn.execute(
                select(trusted_flaggers).where(trusted_flaggers.c.removed_at.is_(None))
            )
            bound = await conn.execute(
                select(authorities).where(authorities.c.removed_at.is_(None))
            )
            standing = await conn.execute(
                select(reporter_standing).where(
                    (reporter_standing.c.warned_at.is_not(None))
                    | (reporter_standing.c.held_until.is_not(None))
                )
            )
            self._flaggers = [
                Flagger(
                    f.flagger_id,
                    f.name,
                    f.client_id,
                    f.key_id,
                    frozenset(PolicyArea(a) for a in f.policy_areas),
                )
                for f in flaggers
            ]
            self._authorities = [
                Authority(a.authority_id, a.name, a.client_id, a.key_id, SourceKind(a.kind))
                for a in bound
            ]
            self._standing = {
                (s.client_id, s.reporter_id): Standing(s.warned_at, s.held_until) for s in standing
            }

    def flagger_for(self, principal: Principal) -> Flagger | None:
        """The registered flagger sending with this key or client, if any (key match first)."""
        return _bound_to(self._flaggers, principal)

    def authority_for(self, principal: Principal) -> Authority | None:
        """The registered authority sending with this key or client, if any (key match first)."""
        return _bound_to(self._authorities, principal)

    def standing_of(self, client_id: str, reporter_id: str) -> Standing | None:
        return self._standing.get((client_id, reporter_id))

    def set_standing(self, client_id: str, reporter_id: str, standing: Standing) -> None:
        self._standing[(client_id, reporter_id)] = standing


_Bound = TypeVar("_Bound", Flagger, Authority)


def _bound_to(entries: list[_Bound], principal: Principal) -> _Bound | None:
    """The entry bound to the principal's API key, else the first bound to its client."""
    by_client = None
    for e in entries:
        if e.key_id is not None and e.key_id == principal.key_id:
            return e
        if e.key_id is None and e.client_id == principal.client_id and by_client is None:
            by_client = e
    return by_client


async def add_flagger(
    engine: AsyncEngine,
    *,
    flagger_id: str,
    name: str,
    client_id: str | None,
    key_id: str | None,
    policy_areas: list[PolicyArea],
) -> None:
    if client_id is None and key_id is None:
        raise ValueError("a flagger needs a client id or an API key id")
    if not policy_areas:
        raise ValueError("a flagger needs at least one designated policy area")
    async with engine.begin() as conn:
        await conn.execute(
            trusted_flaggers.insert().values(
                flagger_id=flagger_id,
                name=name,
                client_id=client_id,
                key_id=key_id,
                policy_areas=[a.value for a in policy_areas],
            )
        )


async def add_authority(
    engine: AsyncEngine,
    *,
    authority_id: str,
    name: str,
    client_id: str | None,
    key_id: str | None,
    kind: SourceKind = SourceKind.LEGAL_ORDER,
) -> None:
    if client_id is None and key_id is None:
        raise ValueError("an authority needs a client id or an API key id")
    async with engine.begin() as conn:
        await conn.execute(
            authorities.insert().values(
                authority_id=authority_id,
                name=name,
                client_id=client_id,
                key_id=key_id,
                kind=kind.value,
            )
        )


async def list_registered(engine: AsyncEngine, table: Table) -> list[dict[str, object]]:
    """Every entry of ``trusted_flaggers`` or ``authorities``, removed ones too, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(table).order_by(table.c.created_at))
        return [dict(r._mapping) for r in rows]


async def remove_registered(engine: AsyncEngine, table: Table, entry_id: str) -> bool:
    """Mark an active entry of ``table`` removed; False when there is no such active entry."""
    (key,) = table.primary_key.columns
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(key == entry_id, table.c.removed_at.is_(None))
            .values(removed_at=datetime.now(UTC))
        )
        return bool(result.rowcount)
