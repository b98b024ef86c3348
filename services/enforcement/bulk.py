"""Bulk writes with PostgreSQL ``COPY``: the hot path's one round trip per table and batch.

SQLAlchemy's executemany spends more time processing parameters than PostgreSQL spends
inserting them; ``COPY`` through the driver connection of the same transaction skips that.
Callers make sure the rows are new (the batch holds the chain lock and filtered replays out):
``COPY`` has no ``ON CONFLICT``, so a duplicate still fails loudly rather than silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection


async def copy_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one ``COPY``."""
    if not rows:
        return
    keys = list(rows[0])
    json_columns = [c for c in keys if isinstance(table.c[c].type, JSONB)]
    # JSON columns go last, so the rest of each record is one C-level ``itemgetter`` call.
    plain = [c for c in keys if c not in json_columns]
    columns = plain + json_columns
    get_plain = itemgetter(*plain) if len(plain) > 1 else lambda row: tuple(row[c] for c in plain)
    records: list[tuple[Any, ...]]
    if not json_columns:
        records = [get_plain(row) for row in rows]
    elif len(json_columns) == 1:
        (doc,) = json_columns
        records = [(*get_plain(row), orjson.dumps(row[doc]).decode()) for row in rows]
    else:
        records = [
            (*get_plain(row), *(orjson.dumps(row[c]).decode() for c in json_columns))
            for row in rows
        ]
    await copy_records(conn, table, columns, records)


async def copy_records(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
) -> None:
    """Insert ``records`` (tuples in ``columns`` order, JSON as text) in one ``COPY``."""
    if not records:
        return
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        table.name, schema_name=table.schema, columns=list(columns), records=records
    )
