"""Bulk writes with PostgreSQL ``COPY``: the hot path's one round trip per table and batch.

SQLAlchemy's executemany spends more time processing parameters than PostgreSQL spends
inserting them; ``COPY`` through the driver connection of the same transaction skips that.
Callers make sure the rows are new (the batch holds the chain lock and filtered replays out):
``COPY`` has no ``ON CONFLICT``, so a duplicate still fails loudly rather than silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection


async def copy_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one ``COPY``."""
    if not rows:
        return
    columns = list(rows[0])
    json_columns = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSONB)}
    if json_columns:
        records = [
            tuple(
                orjson.dumps(row[c]).decode() if i in json_columns else row[c]
                for i, c in enumerate(columns)
            )
            for row in rows
        ]
    else:
        records = [tuple(row[c] for c in columns) for row in rows]
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        table.name, schema_name=table.schema, columns=columns, records=records
    )
