"""The database engine, the processed-events table and the migrations command."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, DateTime, MetaData, Table, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.config import ServiceSettings

logger = logging.getLogger(__name__)


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    """An asyncpg engine sized by the settings."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_recycle=1800,
        echo=settings.database_echo,
    )


def processed_events_table(metadata: MetaData) -> Table:
    """The table that makes a replayed event a no-op (see ``ConsumerLoop``)."""
    return Table(
        "processed_events",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def alembic_config(migrations_dir: Path, database_url: str, schema: str) -> Config:
    """Alembic settings for one service: its own script folder, schema and version table."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def migrate(migrations_dir: Path, database_url: str, schema: str, revision: str = "head") -> None:
    """Upgrade one service's schema to ``revision``. Safe to run from several replicas at once."""
    command.upgrade(alembic_config(migrations_dir, database_url, schema), revision)


async def migrate_async(migrations_dir: Path, database_url: str, schema: str) -> None:
    """``migrate`` from inside a running event loop (Alembic runs its own loop in a thread)."""
    await asyncio.to_thread(migrate, migrations_dir, database_url, schema)


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:
    """True when the database answers ``SELECT 1``."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
