"""The database engine, the processed-events table and the migrations command."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, DateTime, MetaData, Table, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.config import ServiceSettings

if TYPE_CHECKING:
    from alembic.config import Config

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
    # Alembic (with Mako and Pygments behind it) is imported only when migrating: a service
    # whose schema is already at head starts without it (``at_head``).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def migrate(migrations_dir: Path, database_url: str, schema: str, revision: str = "head") -> None:
    """Upgrade one service's schema to ``revision``. Safe to run from several replicas at once."""
    from alembic import command

    command.upgrade(alembic_config(migrations_dir, database_url, schema), revision)


async def migrate_async(migrations_dir: Path, database_url: str, schema: str) -> None:
    """``migrate`` from inside a running event loop (Alembic runs its own loop in a thread)."""
    await asyncio.to_thread(migrate, migrations_dir, database_url, schema)


_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def script_heads(migrations_dir: Path) -> set[str] | None:
    """The head revisions of a service's migration scripts, read from the files without
    importing Alembic; None when a script does not declare its revisions plainly."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir / "versions").glob("*.py"):
        source = path.read_text()
        revision = _REVISION.search(source)
        down = _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads or None


async def at_head(engine: AsyncEngine, migrations_dir: Path, schema: str) -> bool:
    """True when the schema's version table holds exactly the scripts' heads (one query)."""
    heads = script_heads(migrations_dir)
    if heads is None:
        return False
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
            current = {r[0] for r in rows}
    except Exception as exc:  # no schema or version table yet, or the database not up
        logger.info("schema %s not known to be at head (%s); migrating", schema, type(exc).__name__)
        return False
    return current == heads


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:
    """True when the database answers ``SELECT 1``."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
