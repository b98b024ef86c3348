"""A service whose schema is at head starts without Alembic: the heads read from its scripts
must be the ones Alembic itself finds, or a service would skip a migration it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from shared.db import alembic_config, script_heads

ROOT = Path(__file__).resolve().parents[3]
SERVICES = sorted(p.parent for p in ROOT.glob("services/*/migrations/env.py"))


@pytest.mark.parametrize("migrations", SERVICES, ids=lambda p: p.parent.name)
def test_heads_read_from_the_scripts_are_alembics(migrations: Path) -> None:
    cfg = alembic_config(migrations, "postgresql+asyncpg://unused/db", "unused")
    assert script_heads(migrations) == set(ScriptDirectory.from_config(cfg).get_heads())


def test_a_script_without_plain_revisions_means_unknown(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / "0001_x.py").write_text("revision = make_revision()\n")
    assert script_heads(tmp_path) is None
