"""The hash-bank API: create banks, add hashes or images, list, disable hashes and banks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.classifier.banks import BankStore
from services.classifier.models import bank_hashes, hash_banks
from services.classifier.schemas import (
    BankCreate,
    BankRead,
    BankUpdate,
    HashesAdd,
    HashesAdded,
    HashRead,
    HashUpdate,
)
from shared.apikeys import AUTH_RESPONSES, Principal, require_scope
from shared.errors import ApiError

router = APIRouter(prefix="/v1/banks", tags=["hash banks"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such bank or hash"}}


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.runtime.engine
    return engine


async def _refreshed(request: Request) -> None:
    # This replica matches with the change at once; the others at their next refresh.
    store: BankStore = request.app.state.banks
    await store.refresh()


def _bank_query() -> Any:
    count = (
        select(func.count())
        .where(bank_hashes.c.bank_name == hash_banks.c.name, bank_hashes.c.enabled.is_(True))
        .scalar_subquery()
    )
    return select(hash_banks, count.label("hash_count"))


async def _bank(conn: AsyncConnection, name: str) -> BankRead:
    row = (await conn.execute(_bank_query().where(hash_banks.c.name == name))).first()
    if row is None:
        raise ApiError(404, "not_found", f"no bank {name!r}")
    return BankRead.model_validate(row, from_attributes=True)


async def _bump(conn: AsyncConnection, name: str) -> None:
    await conn.execute(
        update(hash_banks)
        .where(hash_banks.c.name == name)
        .values(version=hash_banks.c.version + 1, updated_at=func.now())
    )


@router.post(
    "",
    status_code=201,
    response_model=BankRead,
    summary="Create a hash bank",
    responses={**AUTH_RESPONSES, 409: {"description": "A bank with this name exists"}},
)
async def create_bank(
    body: BankCreate, request: Request, _: Principal = require_scope("banks:write")
) -> BankRead:
    try:
        async with _engine(request).begin() as conn:
            await conn.execute(
                hash_banks.insert().values(
                    name=body.name,
                    source=body.source,
                    policy_area=body.policy_area.value,
                    enabled=body.enabled,
                )
            )
            bank = await _bank(conn, body.name)
    except IntegrityError:
        raise ApiError(409, "conflict", f"bank {body.name!r} exists") from None
    await _refreshed(request)
    return bank


@router.get("", response_model=list[BankRead], summary="List hash banks", responses=AUTH_RESPONSES)
async def list_banks(
    request: Request, _: Principal = require_scope("banks:read")
) -> list[BankRead]:
    async with _engine(request).connect() as conn:
        rows = await conn.execute(_bank_query().order_by(hash_banks.c.name))
        return [BankRead.model_validate(r, from_attributes=True) for r in rows]


@router.patch(
    "/{name}",
    response_model=BankRead,
    summary="Enable or disable a bank",
    responses={**AUTH_RESPONSES, **NOT_FOUND},
)
async def update_bank(
    name: str, body: BankUpdate, request: Request, _: Principal = require_scope("banks:write")
) -> BankRead:
    async with _engine(request).begin() as conn:
        await _bank(conn, name)
        await conn.execute(
            update(hash_banks).where(hash_banks.c.name == name).values(enabled=body.enabled)
        )
        await _bump(conn, name)
        bank = await _bank(conn, name)
    await _refreshed(request)
    return bank


@router.post(
    "/{name}/hashes",
    status_code=201,
    response_model=HashesAdded,
    summary="Add hashes, or images to hash (PDQ, MD5, SHA-256)",
    responses={**AUTH_RESPONSES, **NOT_FOUND, 413: {"description": "Body too large"}},
)
async def add_hashes(
    name: str, body: HashesAdd, request: Request, _: Principal = require_scope("banks:write")
) -> HashesAdded:
    rows: dict[tuple[str, str], str] = {}
    for h in body.hashes:
        rows.setdefault((h.kind, h.value), h.note)
    for image in body.images:
        fh = image.hashes
        for kind, value in (("pdq", fh.pdq), ("md5", fh.md5), ("sha256", fh.sha256)):
            if value:
                rows.setdefault((kind, value), image.note)
    values = [
        {"bank_name": name, "kind": kind, "value": value, "note": note}
        for (kind, value), note in rows.items()
    ]
    async with _engine(request).begin() as conn:
        await _bank(conn, name)
        added = await conn.execute(
            insert(bank_hashes)
            .on_conflict_do_nothing(constraint="uq_bank_hashes_value")
            .returning(bank_hashes.c.hash_id),
            values,
        )
        n_added = len(added.all())
        if n_added:
            await _bump(conn, name)
        stored = await conn.execute(
            select(bank_hashes).where(
                bank_hashes.c.bank_name == name,
                bank_hashes.c.value.in_([v["value"] for v in values]),
            )
        )
        hashes = [HashRead.model_validate(r, from_attributes=True) for r in stored]
    await _refreshed(request)
    return HashesAdded(added=n_added, hashes=hashes)


@router.get(
    "/{name}/hashes",
    response_model=list[HashRead],
    summary="List a bank's hashes, by id",
    responses={**AUTH_RESPONSES, **NOT_FOUND},
)
async def list_hashes(
    name: str,
    request: Request,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1, description="Page after this hash id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = require_scope("banks:read"),
) -> list[HashRead]:
    async with _engine(request).connect() as conn:
        await _bank(conn, name)
        rows = await conn.execute(
            select(bank_hashes)
            .where(bank_hashes.c.bank_name == name, bank_hashes.c.hash_id > after_id)
            .order_by(bank_hashes.c.hash_id)
            .limit(limit)
        )
        return [HashRead.model_validate(r, from_attributes=True) for r in rows]


@router.patch(
    "/{name}/hashes/{hash_id}",
    response_model=HashRead,
    summary="Enable or disable one hash",
    responses={**AUTH_RESPONSES, **NOT_FOUND},
)
async def update_hash(
    name: str,
    hash_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: HashUpdate,
    request: Request,
    _: Principal = require_scope("banks:write"),
) -> HashRead:
    async with _engine(request).begin() as conn:
        row = (
            await conn.execute(
                update(bank_hashes)
                .where(bank_hashes.c.bank_name == name, bank_hashes.c.hash_id == hash_id)
                .values(enabled=body.enabled)
                .returning(*bank_hashes.c)
            )
        ).first()
        if row is None:
            raise ApiError(404, "not_found", f"no hash {hash_id} in bank {name!r}")
        await _bump(conn, name)
    await _refreshed(request)
    return HashRead.model_validate(row, from_attributes=True)
