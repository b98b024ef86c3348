"""API keys, the one way every service authenticates callers.

Product clients, reviewers and operators each hold a key: a 256-bit random token shown once,
stored only as its SHA-256, with a principal id (client id or reviewer id) and scopes. Each service
keeps its keys in an ``api_keys`` table of its own schema (``api_keys_table``), manages them with
a ``keys`` command (``keys_command``) and guards routes with ``require_scope``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy import ARRAY, Column, DateTime, MetaData, Table, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import ServiceSettings
from shared.db import create_engine, migrate
from shared.errors import ApiError

_PREFIX = "tns_"
_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z0-9*][a-z0-9_.*-]*)*$")

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked API key"},
    403: {"description": "The key lacks the scope"},
}


def api_keys_table(metadata: MetaData) -> Table:
    """The ``api_keys`` table in ``metadata``'s schema (a migration must create it)."""
    return Table(
        "api_keys",
        metadata,
        Column("key_id", Text, primary_key=True),
        Column("client_id", Text, nullable=False, comment="principal: client or reviewer id"),
        Column("key_hash", Text, nullable=False, unique=True),
        Column("scopes", ARRAY(Text), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("revoked_at", DateTime(timezone=True)),
    )


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    client_id: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        """True when the key holds ``scope`` or a wildcard covering it (``queue:*``)."""
        if scope in self.scopes:
            return True
        head, _, _ = scope.partition(":")
        return f"{head}:*" in self.scopes


def check_scopes(scopes: Iterable[str], allowed: Callable[[str], bool]) -> list[str]:
    """The scopes, validated; raises ValueError naming the ones not allowed."""
    scopes = list(scopes)
    bad = sorted(s for s in scopes if not _SCOPE.match(s) or not allowed(s))
    if bad:
        raise ValueError(f"unknown scopes: {bad}")
    return scopes


async def create_key(
    engine: AsyncEngine, table: Table, *, client_id: str, scopes: list[str]
) -> tuple[str, str]:
    """Create a key; returns ``(key_id, key)``. The key itself is shown once and never stored."""
    key_id = secrets.token_hex(6)
    key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    async with engine.begin() as conn:
        await conn.execute(
            table.insert().values(
                key_id=key_id, client_id=client_id, key_hash=hash_key(key), scopes=scopes
            )
        )
    return key_id, key


async def list_keys(engine: AsyncEngine, table: Table) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                table.c.key_id,
                table.c.client_id,
                table.c.scopes,
                table.c.created_at,
                table.c.revoked_at,
            ).order_by(table.c.created_at)
        )
        return [dict(r._mapping) for r in rows]


async def revoke_key(engine: AsyncEngine, table: Table, key_id: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(table.c.key_id == key_id, table.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        return bool(result.rowcount)


class KeyStore:
    """Looks keys up by hash, with a short cache so the hot path rarely touches the database.

    A revoked key stops working within ``ttl`` seconds on every replica.
    """

    def __init__(self, engine: AsyncEngine, table: Table, ttl: float) -> None:
        self.engine = engine
        self.table = table
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        t = self.table
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.c.key_id, t.c.client_id, t.c.scopes).where(
                        t.c.key_hash == digest, t.c.revoked_at.is_(None)
                    )
                )
            ).first()
        principal = Principal(row.key_id, row.client_id, frozenset(row.scopes)) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, principal)
        return principal


async def authenticate(
    request: Request,
    authorization: Annotated[str | None, Header(description="Bearer API key")] = None,
    x_api_key: Annotated[str | None, Header(description="API key")] = None,
) -> Principal:
    """FastAPI dependency: the caller's principal (401 without a valid key).

    Reads the ``KeyStore`` from ``request.app.state.keys``.
    """
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not key:
        raise ApiError(
            401, "unauthenticated", "an API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
    store: KeyStore = request.app.state.keys
    principal = await store.authenticate(key)
    if principal is None:
        raise ApiError(
            401,
            "unauthenticated",
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_scope(scope: str) -> Any:
    """FastAPI dependency: the principal, if its key holds ``scope`` (else 401 or 403)."""

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(scope):
            raise ApiError(403, "forbidden", f"the API key lacks the {scope!r} scope")
        return principal

    return Depends(dependency)


def keys_command(
    table: Table,
    *,
    migrations_dir: Path,
    schema: str,
    default_scopes: list[str],
    allowed: Callable[[str], bool],
    principal: str = "client",
) -> tuple[str, Any, Callable[[argparse.ArgumentParser], None]]:
    """The ``keys create|list|revoke`` command, as a ``run_cli`` command entry."""

    def configure(p: argparse.ArgumentParser) -> None:
        sub = p.add_subparsers(dest="keys_command", required=True)
        c = sub.add_parser("create", help="create a key and print it once")
        c.add_argument(f"--{principal}", required=True, dest="principal")
        c.add_argument("--scopes", default=",".join(default_scopes), help="comma-separated")
        sub.add_parser("list", help="list keys (never the keys themselves)")
        r = sub.add_parser("revoke", help="revoke a key by its id")
        r.add_argument("key_id")

    def run(settings: ServiceSettings, args: argparse.Namespace) -> int:
        migrate(migrations_dir, settings.database_url, schema)

        async def main() -> int:
            engine = create_engine(settings)
            try:
                if args.keys_command == "create":
                    try:
                        scopes = check_scopes((s for s in args.scopes.split(",") if s), allowed)
                    except ValueError as exc:
                        print(str(exc), file=sys.stderr)
                        return 2
                    key_id, key = await create_key(
                        engine, table, client_id=args.principal, scopes=scopes
                    )
                    out = {"key_id": key_id, principal: args.principal, "scopes": scopes}
                    print(json.dumps({**out, "key": key}))
                elif args.keys_command == "list":
                    for row in await list_keys(engine, table):
                        print(json.dumps(row, default=str))
                elif not await revoke_key(engine, table, args.key_id):
                    print(f"no active key {args.key_id}", file=sys.stderr)
                    return 1
                return 0
            finally:
                await engine.dispose()

        return asyncio.run(main())

    return ("manage API keys", run, configure)
