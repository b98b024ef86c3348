"""``python -m opsreport [--since ISO] [--until ISO] [--incident] [--out report.html]``.

Renders the operations report from the database at ``TNS_DATABASE_URL``; without it, from the
development stack's PostgreSQL (``.devstack/pg``, as ``make run`` leaves it), whose schemas are
brought up to date first so the views exist. The period defaults to the last 7 days.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from devstack.embedded import EmbeddedPostgres
from devstack.run import STATE
from opsreport.render import render
from services.enforcement.app import MIGRATIONS as ENFORCEMENT
from services.intake.app import MIGRATIONS as INTAKE
from services.router.app import MIGRATIONS as ROUTER
from shared.db import migrate


def _aware(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m opsreport", description=__doc__)
    p.add_argument("--since", type=_aware, help="period start (default: 7 days before --until)")
    p.add_argument("--until", type=_aware, help="period end (default: now)")
    p.add_argument("--incident", action="store_true", help="postmortem of an incident window")
    p.add_argument("--clearance-hours", type=float, default=8.0, help="backlog clearance target")
    p.add_argument("--out", type=Path, default=Path("report.html"))
    args = p.parse_args(argv)
    until = args.until or datetime.now(UTC)
    since = args.since or until - timedelta(days=7)
    if until <= since:
        print("--until must be after --since", file=sys.stderr)
        return 2
    url = os.environ.get("TNS_DATABASE_URL")
    if not url:
        url = EmbeddedPostgres(STATE / "pg").start().url
        for migrations, schema in (
            (INTAKE, "intake"),
            (ROUTER, "router"),
            (ENFORCEMENT, "enforcement"),
        ):
            migrate(migrations, url, schema)

    async def run() -> str:
        engine = create_async_engine(url)
        try:
            return await render(
                engine, since, until, clearance_hours=args.clearance_hours, incident=args.incident
            )
        finally:
            await engine.dispose()

    try:
        html = asyncio.run(run())
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    args.out.write_text(html)
    print(f"wrote {args.out} ({len(html)} bytes) for {since.isoformat()} to {until.isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
