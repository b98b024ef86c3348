"""API keys for product clients: stored hashed, with scopes, created and revoked by a command."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.models import api_keys

SCOPES = ("reports:write", "reports:read")
_PREFIX = "tns_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    client_id: str
    scopes: frozenset[str]


async def create_key(engine: AsyncEngine, *, client_id: str, scopes: list[str]) -> tuple[str, str]:
    """Create a key; returns ``(key_id, key)``. The key itself is shown once and never stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}")
    key_id = secrets.token_hex(6)
    key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    async with engine.begin() as conn:
        await conn.execute(
            api_keys.insert().values(
                key_id=key_id, client_id=client_id, key_hash=hash_key(key), scopes=scopes
            )
        )
    return key_id, key


async def list_keys(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                api_keys.c.key_id,
                api_keys.c.client_id,
                api_keys.c.scopes,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            ).order_by(api_keys.c.created_at)
        )
        return [dict(r._mapping) for r in rows]


async def revoke_key(engine: AsyncEngine, key_id: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        return bool(result.rowcount)


class KeyStore:
    """Looks keys up by hash, with a short cache so the hot path rarely touches the database.

    A revoked key stops working within ``ttl`` seconds on every replica.
    """

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.key_id, api_keys.c.client_id, api_keys.c.scopes).where(
                        api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
                    )
                )
            ).first()
        principal = Principal(row.key_id, row.client_id, frozenset(row.scopes)) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, principal)
        return principal
