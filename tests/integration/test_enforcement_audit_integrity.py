"""The audit chain against someone who can write to the database.

Each test has a database of its own: it deletes and rewrites audit rows as a superuser would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement import audit
from services.enforcement.app import MIGRATIONS, create_app
from services.enforcement.models import SCHEMA, audit_checkpoints, audit_log
from services.enforcement.settings import EnforcementSettings
from shared.db import migrate
from shared.kafka.topics import Topics
from tests.harness import eventually, produce_raw, running, service_env
from tests.integration.test_enforcement import ALL_SCOPES, auth, make_decision

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

KEY = "checkpoint-signing-key-for-tests-only-0123456789"


@pytest_asyncio.fixture(loop_scope="session")
async def own_db(postgres: EmbeddedPostgres) -> AsyncIterator[tuple[str, AsyncEngine]]:
    name = f"enf_{uuid.uuid4().hex[:10]}"
    postgres.psql(f"CREATE DATABASE {name}")
    url = postgres.url.replace("/postgres?", f"/{name}?")
    engine = create_async_engine(url)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        postgres.psql(f"DROP DATABASE {name} WITH (FORCE)")


def cli(url: str, *args: str, export: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TNS_DATABASE_URL": url, "TNS_LOG_JSON": "false"}
    env.pop("TNS_AUDIT_CHECKPOINT_DIR", None)
    env.pop("TNS_AUDIT_CHECKPOINT_KEY", None)
    if export is not None:
        env |= {"TNS_AUDIT_CHECKPOINT_DIR": str(export), "TNS_AUDIT_CHECKPOINT_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "services.enforcement", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def as_superuser(engine: AsyncEngine, *statements: Any) -> None:
    """Run statements with triggers off, as a superuser can."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await conn.execute(statement)


async def decide(
    kafka: EmbeddedKafka, namespace: str, api: Any, n: int, rows_expected: int
) -> None:
    decisions = [make_decision() for _ in range(n)]
    await produce_raw(
        kafka.bootstrap_servers,
        Topics(namespace).decisions,
        [(d.key(), d.to_bytes()) for d in decisions],
    )

    async def written() -> bool:
        verdict = (await api.get("/v1/audit/verify")).json()
        return bool(verdict["head_seq"] >= rows_expected)

    await eventually(written)


def settings(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, url: str, namespace: str, **kw: Any
) -> EnforcementSettings:
    env = {**service_env(kafka, postgres, namespace), "database_url": url}
    return EnforcementSettings(**env, audit_checkpoint_interval_s=86400.0, **kw)


async def test_checkpoints_refuse_updates_and_deletes(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    own_db: tuple[str, AsyncEngine],
) -> None:
    url, engine = own_db
    async with running(create_app(settings(kafka, postgres, url, namespace))) as api:
        api.headers.update(await auth(engine, *ALL_SCOPES, "enforcement:read_all"))
        await decide(kafka, namespace, api, 1, 2)
        assert cli(url, "checkpoint").returncode == 0
    for sql in (
        "UPDATE enforcement.audit_checkpoints SET head_hash = 'x'",
        "DELETE FROM enforcement.audit_checkpoints",
        "TRUNCATE enforcement.audit_checkpoints",
    ):
        with pytest.raises(Exception, match="audit_checkpoints is append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(sql))


async def test_verify_fails_when_the_newest_rows_are_deleted_under_a_checkpoint(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    own_db: tuple[str, AsyncEngine],
) -> None:
    url, engine = own_db
    async with running(create_app(settings(kafka, postgres, url, namespace))) as api:
        api.headers.update(await auth(engine, *ALL_SCOPES, "enforcement:read_all"))
        await decide(kafka, namespace, api, 3, 6)
        stored = cli(url, "checkpoint")
        assert stored.returncode == 0, stored.stderr
        assert json.loads(stored.stdout.splitlines()[-1])["head_seq"] == 6
        assert (await api.get("/v1/audit/verify")).json()["ok"] is True
        # The newest two rows go, triggers off: the rest of the chain still links up.
        await as_superuser(engine, text("DELETE FROM enforcement.audit_log WHERE seq > 4"))
        verdict = (await api.get("/v1/audit/verify")).json()
    by_cli = cli(url, "verify")
    assert verdict["ok"] is False
    assert verdict["first_broken_seq"] == 5
    assert verdict["head_seq"] == 4
    assert "checkpoint covers rows up to 6" in verdict["reason"]
    assert by_cli.returncode == 1
    assert "broken at record 5" in by_cli.stderr


async def test_a_superuser_rewrite_of_log_and_checkpoints_is_caught_by_the_signed_export(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    own_db: tuple[str, AsyncEngine],
    tmp_path: Path,
) -> None:
    url, engine = own_db
    export = tmp_path / "checkpoints"
    configured = settings(
        kafka, postgres, url, namespace, audit_checkpoint_dir=export, audit_checkpoint_key=KEY
    )
    async with running(create_app(configured)) as api:
        api.headers.update(await auth(engine, *ALL_SCOPES, "enforcement:read_all"))
        await decide(kafka, namespace, api, 3, 6)
        stored = cli(url, "checkpoint", export=export)
        assert stored.returncode == 0, stored.stderr
        (exported,) = export.glob("checkpoint-*.json")
        original_file = exported.read_bytes()
        assert json.loads(original_file)["head_seq"] == 6
        await decide(kafka, namespace, api, 2, 10)
        assert (await api.get("/v1/audit/verify")).json()["ok"] is True

        # Rewrite history from row 1 on: every later hash recomputed, the stored checkpoint
        # replaced to match. The database alone now tells a consistent story.
        async with engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(select(audit_log))).mappings()]
        rows.sort(key=lambda r: r["seq"])
        rows[0]["details"] = {**rows[0]["details"], "outcome": "no_action", "action": None}
        prev = audit.GENESIS
        statements: list[Any] = []
        for row in rows:
            digest = audit.row_hash(row["seq"], prev, row)
            statements.append(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(details=row["details"], prev_hash=prev, hash=digest)
            )
            row["hash"], prev = digest, digest
        new_at_6 = rows[5]["hash"]
        statements.append(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.head_seq == 6)
            .values(head_hash=new_at_6)
        )
        await as_superuser(engine, *statements)
        assert cli(url, "verify").returncode == 0  # without the export, nothing to compare
        rewritten = (await api.get("/v1/audit/verify")).json()
        rewritten_cli = cli(url, "verify", "--checkpoints", str(export), export=None)
        rewritten_cli_env = cli(url, "verify", export=export)

        # Deleting the checkpoints and the newest rows is caught the same way.
        await as_superuser(
            engine,
            text("DELETE FROM enforcement.audit_checkpoints"),
            text("DELETE FROM enforcement.audit_log WHERE seq > 6"),
        )
        deleted = (await api.get("/v1/audit/verify")).json()
        deleted_cli = cli(url, "verify", export=export)
        # A file forged without the key is refused, and an exported file is never replaced.
        forged = export / "checkpoint-00000000000000000010.json"
        forged.write_text(
            json.dumps(
                {
                    "head_seq": 10,
                    "head_hash": prev,
                    "created_at": "2026-01-01T00:00:00.000000+00:00",
                    "signature": "0" * 64,
                }
            )
        )
        forged_cli = cli(url, "verify", export=export)
        forged_api = (await api.get("/v1/audit/verify")).json()
    assert rewritten["ok"] is False
    assert rewritten["first_broken_seq"] == 6
    assert rewritten["reason"] == "exported checkpoint 6 was rewritten in audit_checkpoints"
    assert rewritten_cli.returncode == 2  # --checkpoints without the key in the environment
    assert rewritten_cli_env.returncode == 1
    assert "exported checkpoint 6 was rewritten" in rewritten_cli_env.stderr
    assert deleted["ok"] is False
    assert deleted["reason"] == "exported checkpoint 6 was deleted from audit_checkpoints"
    assert deleted_cli.returncode == 1
    assert "exported checkpoint 6 was deleted" in deleted_cli.stderr
    assert forged_cli.returncode == 1
    assert "signature does not match" in forged_cli.stderr
    assert forged_api["ok"] is False and "signature does not match" in forged_api["reason"]
    assert exported.read_bytes() == original_file


async def test_cli_verify_checks_a_chain_against_files_from_another_directory(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    own_db: tuple[str, AsyncEngine],
    tmp_path: Path,
) -> None:
    url, engine = own_db
    export = tmp_path / "store"
    async with running(create_app(settings(kafka, postgres, url, namespace))) as api:
        api.headers.update(await auth(engine, *ALL_SCOPES, "enforcement:read_all"))
        await decide(kafka, namespace, api, 2, 4)
        assert cli(url, "checkpoint", export=export).returncode == 0
    env_key_only = {**os.environ, "TNS_DATABASE_URL": url, "TNS_LOG_JSON": "false"}
    env_key_only["TNS_AUDIT_CHECKPOINT_KEY"] = KEY
    env_key_only.pop("TNS_AUDIT_CHECKPOINT_DIR", None)
    good = subprocess.run(
        [sys.executable, "-m", "services.enforcement", "verify", "--checkpoints", str(export)],
        env=env_key_only,
        capture_output=True,
        text=True,
        timeout=60,
    )
    wrong_key = subprocess.run(
        [sys.executable, "-m", "services.enforcement", "verify", "--checkpoints", str(export)],
        env={**env_key_only, "TNS_AUDIT_CHECKPOINT_KEY": KEY[::-1]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr
    assert "checked against 1 exported checkpoint(s)" in good.stderr
    assert wrong_key.returncode == 1
    assert "signature does not match" in wrong_key.stderr


async def test_migration_gives_existing_rows_the_client_of_their_decision(
    postgres: EmbeddedPostgres, own_db: tuple[str, AsyncEngine]
) -> None:
    url, engine = own_db
    await asyncio.to_thread(migrate, MIGRATIONS, url, SCHEMA, "0003")
    report_id, decision_id, action_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    entry = audit.AuditEntry(
        actor_kind="policy",
        actor_id="router:p1",
        act="decision_recorded",
        recorded_at=datetime.now(UTC),
        subject_id="post-1",
        report_id=report_id,
        decision_id=decision_id,
        details={"outcome": "action"},
    )
    row = {
        "recorded_at": entry.recorded_at,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "act": entry.act,
        "subject_id": entry.subject_id,
        "report_id": report_id,
        "decision_id": decision_id,
        "action_id": None,
        "case_id": None,
        "details": entry.details,
    }
    digest = audit.row_hash(1, audit.GENESIS, row)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE SCHEMA intake"))
        await conn.execute(text("CREATE TABLE intake.reports (report_id uuid, client_id text)"))
        await conn.execute(
            text("INSERT INTO intake.reports VALUES (:r, 'app-web')"), {"r": report_id}
        )
        await conn.execute(
            text(
                "INSERT INTO enforcement.decisions (decision_id, report_id, subject_type, "
                "subject_id, policy_area, dsa_category, source, outcome, action, decided_by, "
                "actor_kind, actor_id, versions, reason, decided_at, recorded_at) VALUES "
                "(:d, :r, 'content', 'post-1', 'harassment', 'x', 'user_notice', 'action', "
                "'remove_content', 'automated', 'policy', 'router:p1', '{}', 'r', now(), now())"
            ),
            {"d": decision_id, "r": report_id},
        )
        await conn.execute(
            text(
                "INSERT INTO enforcement.actions (action_id, decision_id, report_id, "
                "subject_type, subject_id, action, policy_area, status, issued_at) VALUES "
                "(:a, :d, :r, 'content', 'post-1', 'remove_content', 'harassment', 'issued', "
                "now())"
            ),
            {"a": action_id, "d": decision_id, "r": report_id},
        )
        await conn.execute(
            text(
                "INSERT INTO enforcement.audit_log (seq, recorded_at, actor_kind, actor_id, act, "
                "subject_id, report_id, decision_id, details, prev_hash, hash) VALUES "
                "(1, :at, 'policy', 'router:p1', 'decision_recorded', 'post-1', :r, :d, "
                "CAST(:details AS jsonb), :prev, :hash)"
            ),
            {
                "at": entry.recorded_at,
                "r": report_id,
                "d": decision_id,
                "details": json.dumps(entry.details),
                "prev": audit.GENESIS,
                "hash": digest,
            },
        )
    await asyncio.to_thread(migrate, MIGRATIONS, url, SCHEMA)
    async with engine.connect() as conn:
        owners = {
            table: await conn.scalar(text(f"SELECT client_id FROM enforcement.{table}"))
            for table in ("decisions", "actions", "audit_log")
        }
    result = await audit.verify(engine)
    assert owners == {"decisions": "app-web", "actions": "app-web", "audit_log": "app-web"}
    assert result.ok, result.reason
