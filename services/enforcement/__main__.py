"""``python -m services.enforcement [serve|migrate|check|keys|verify|checkpoint|...]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import delete, func, select

from services.enforcement import audit, submitter, transparency
from services.enforcement.api import SCOPES
from services.enforcement.app import MIGRATIONS, create_app
from services.enforcement.ladder import load_policy
from services.enforcement.models import SCHEMA, api_keys, evidence
from services.enforcement.settings import EnforcementSettings
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine
from shared.events import utcnow
from shared.kpi import KPI_SCOPE
from shared.service import run_cli


def _enforcement(settings: ServiceSettings) -> EnforcementSettings:
    assert isinstance(settings, EnforcementSettings)
    return settings


def _check(settings: ServiceSettings, args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else _enforcement(settings).policy_path
    try:
        policy = load_policy(path)
    except (OSError, ValidationError, ValueError) as exc:
        print(f"{path}: invalid enforcement policy:\n{exc}", file=sys.stderr)
        return 1
    print(json.dumps({"path": str(path), "version": policy.version, "ok": True}))
    return 0


def _verify(settings: ServiceSettings, args: argparse.Namespace) -> int:
    export = _enforcement(settings).checkpoint_export
    if args.checkpoints is not None:
        key = _enforcement(settings).audit_checkpoint_key
        if key is None:
            print(
                "--checkpoints needs TNS_AUDIT_CHECKPOINT_KEY to check the files", file=sys.stderr
            )
            return 2
        export = (Path(args.checkpoints), key.get_secret_value().encode())
    exported: list[audit.Checkpoint] = []
    if export is not None:
        try:
            exported = audit.read_exported(*export)
        except audit.ExportError as exc:
            print(json.dumps({"ok": False, "reason": str(exc)}))
            print(f"exported checkpoints cannot be trusted: {exc}", file=sys.stderr)
            return 1

    async def main() -> int:
        engine = create_engine(settings)
        try:
            result = await audit.verify(engine, exported=exported)
        finally:
            await engine.dispose()
        print(json.dumps(dataclasses.asdict(result)))
        if not result.ok:
            print(
                f"audit chain broken at record {result.first_broken_seq}: {result.reason}",
                file=sys.stderr,
            )
        elif exported:
            print(f"checked against {len(exported)} exported checkpoint(s)", file=sys.stderr)
        return 0 if result.ok else 1

    return asyncio.run(main())


def _checkpoint(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Store a checkpoint now, write the new ones to the signed export directory (when set),
    then print every checkpoint as JSON lines."""
    export = _enforcement(settings).checkpoint_export

    async def main() -> int:
        engine = create_engine(settings)
        try:
            async with engine.begin() as conn:
                await audit.checkpoint(conn, utcnow())
            if export is not None:
                for path in await audit.export_new(engine, *export):
                    print(f"exported {path}", file=sys.stderr)
            async with engine.connect() as conn:
                found = await audit.checkpoints(conn, after=args.after, limit=1_000_000)
        finally:
            await engine.dispose()
        for c in found:
            print(json.dumps(dataclasses.asdict(c), default=str))
        return 0

    return asyncio.run(main())


def _export_statements(settings: ServiceSettings, args: argparse.Namespace) -> int:
    async def main() -> int:
        engine = create_engine(settings)
        since = datetime.fromisoformat(args.since) if args.since else None
        written = 0
        try:
            async for batch in submitter.export_batches(engine, status=args.status, since=since):
                written += 1
                path = await asyncio.to_thread(
                    submitter.write_batch, Path(args.out), written, batch
                )
                print(json.dumps({"file": str(path), "statements": len(batch)}))
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(main())


def _purge_evidence(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """Delete evidence references past retention; held ones are kept (and the DB refuses)."""

    async def main() -> int:
        engine = create_engine(settings)
        now = utcnow()
        try:
            async with engine.begin() as conn:
                expired = evidence.c.retain_until < now
                free = (evidence.c.hold_until.is_(None)) | (evidence.c.hold_until <= now)
                held = await conn.scalar(
                    select(func.count()).select_from(evidence).where(expired, ~free)
                )
                purged = 0
                if not args.dry_run:
                    purged = (await conn.execute(delete(evidence).where(expired, free))).rowcount
        finally:
            await engine.dispose()
        print(json.dumps({"purged": purged, "kept_under_hold": held, "dry_run": args.dry_run}))
        return 0

    return asyncio.run(main())


def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="policy file (default: TNS_POLICY_PATH)")


def _configure_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoints",
        help="directory of signed exported checkpoints (default: TNS_AUDIT_CHECKPOINT_DIR)",
    )


def _configure_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--after", type=int, default=0, help="export checkpoints after this seq")


def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="directory for statements-NNNNNN.json files")
    p.add_argument("--status", choices=["pending", "submitted", "duplicate", "rejected"])
    p.add_argument("--since", help="only statements created at or after (ISO 8601)")


def _configure_purge(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="count, delete nothing")


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(EnforcementSettings),
        app_factory=lambda s: create_app(_enforcement(s)),
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={
            "check": ("validate the enforcement policy file", _check, _configure_check),
            "verify": ("verify the audit hash chain", _verify, _configure_verify),
            "checkpoint": (
                "store an audit checkpoint and export all as JSON lines",
                _checkpoint,
                _configure_checkpoint,
            ),
            "export-statements": (
                "write statements of reasons as Transparency Database API batches",
                _export_statements,
                _configure_export,
            ),
            "purge-evidence": (
                "delete evidence references past retention, never held ones",
                _purge_evidence,
                _configure_purge,
            ),
            "transparency": transparency.COMMAND,
            "keys": keys_command(
                api_keys,
                migrations_dir=MIGRATIONS,
                schema=SCHEMA,
                default_scopes=["actions:read"],
                allowed=lambda s: s in SCOPES or s == KPI_SCOPE,
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
