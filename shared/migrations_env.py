"""The body of every service's Alembic ``env.py``: async, schema-scoped, lock-protected."""

from __future__ import annotations

import asyncio
import zlib

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run(target_metadata: MetaData) -> None:
    """Run the migrations of the service whose ``env.py`` calls this."""
    config = context.config
    schema = config.attributes["schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None

    def do_run(connection: Connection) -> None:
        # One migrator per schema at a time, so replicas starting together do not race.
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": zlib.crc32(schema.encode())})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table="alembic_version",
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.execute(
            text("SELECT pg_advisory_unlock(:k)"), {"k": zlib.crc32(schema.encode())}
        )
        connection.commit()

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(main())
