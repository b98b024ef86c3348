"""``python -m services.intake [serve|migrate|keys ...]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from services.intake.app import MIGRATIONS, create_app
from services.intake.keys import SCOPES, create_key, list_keys, revoke_key
from services.intake.models import SCHEMA
from services.intake.settings import IntakeSettings
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine, migrate
from shared.service import run_cli


def _configure_keys(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="keys_command", required=True)
    c = sub.add_parser("create", help="create a key and print it once")
    c.add_argument("--client", required=True)
    c.add_argument("--scopes", default=",".join(SCOPES), help="comma-separated")
    sub.add_parser("list", help="list keys (never the keys themselves)")
    r = sub.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")


def _keys(settings: ServiceSettings, args: argparse.Namespace) -> int:
    migrate(MIGRATIONS, settings.database_url, SCHEMA)

    async def main() -> int:
        engine = create_engine(settings)
        try:
            if args.keys_command == "create":
                scopes = [s for s in args.scopes.split(",") if s]
                key_id, key = await create_key(engine, client_id=args.client, scopes=scopes)
                print(
                    json.dumps(
                        {"key_id": key_id, "client_id": args.client, "scopes": scopes, "key": key}
                    )
                )
            elif args.keys_command == "list":
                for row in await list_keys(engine):
                    print(json.dumps(row, default=str))
            elif not await revoke_key(engine, args.key_id):
                print(f"no active key {args.key_id}", file=sys.stderr)
                return 1
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(main())


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(IntakeSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={"keys": ("manage API keys", _keys, _configure_keys)},
    )


if __name__ == "__main__":
    sys.exit(main())
