"""``python -m services.intake [serve|migrate|keys ...|flaggers ...|authorities ...|mappings]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from services.intake.app import MIGRATIONS, create_app
from services.intake.mappings import MappingError, load_mappings
from services.intake.models import SCHEMA, api_keys
from services.intake.registry import (
    add_authority,
    add_flagger,
    list_authorities,
    list_flaggers,
    remove_authority,
    remove_flagger,
)
from services.intake.settings import IntakeSettings
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine, migrate
from shared.events import SourceKind
from shared.service import run_cli
from shared.taxonomy import PolicyArea

SCOPES = ("reports:write", "reports:read")
# Operations-wide read of the notice KPIs and transparency figures; never a default.
KPI_SCOPE = "kpi:read"


def _configure_flaggers(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="flaggers_command", required=True)
    a = sub.add_parser("add", help="register a trusted flagger (DSA Art. 22)")
    a.add_argument("flagger_id")
    a.add_argument("--name", required=True)
    a.add_argument("--client", help="notices from this client id are the flagger's")
    a.add_argument("--key-id", help="or only notices sent with this API key id")
    a.add_argument(
        "--areas", required=True, help="comma-separated designated policy areas, e.g. hate_speech"
    )
    sub.add_parser("list", help="list trusted flaggers")
    r = sub.add_parser("remove", help="remove a trusted flagger")
    r.add_argument("flagger_id")


def _flaggers(settings: ServiceSettings, args: argparse.Namespace) -> int:
    migrate(MIGRATIONS, settings.database_url, SCHEMA)

    async def main() -> int:
        engine = create_engine(settings)
        try:
            if args.flaggers_command == "add":
                try:
                    areas = [PolicyArea(a.strip()) for a in args.areas.split(",") if a.strip()]
                    await add_flagger(
                        engine,
                        flagger_id=args.flagger_id,
                        name=args.name,
                        client_id=args.client,
                        key_id=args.key_id,
                        policy_areas=areas,
                    )
                except ValueError as exc:
                    print(f"cannot add flagger: {exc}", file=sys.stderr)
                    return 2
            elif args.flaggers_command == "list":
                for row in await list_flaggers(engine):
                    print(json.dumps(row, default=str))
            elif not await remove_flagger(engine, args.flagger_id):
                print(f"no active flagger {args.flagger_id}", file=sys.stderr)
                return 1
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _configure_authorities(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="authorities_command", required=True)
    a = sub.add_parser(
        "add",
        help="register a source of its own kind: an authority sending legal orders, law "
        "enforcement, a regulator, or an advertiser",
    )
    a.add_argument("authority_id")
    a.add_argument("--name", required=True)
    a.add_argument(
        "--kind",
        choices=[k.value for k in SourceKind],
        default=SourceKind.LEGAL_ORDER.value,
        help="legal_order (default): orders, with their legal clocks; law_enforcement: "
        "referrals; regulator: requests; advertiser: brand-safety complaints",
    )
    a.add_argument("--client", help="notices from this client id are the source's")
    a.add_argument("--key-id", help="or only notices sent with this API key id")
    sub.add_parser("list", help="list authorities")
    r = sub.add_parser("remove", help="remove an authority")
    r.add_argument("authority_id")


def _authorities(settings: ServiceSettings, args: argparse.Namespace) -> int:
    migrate(MIGRATIONS, settings.database_url, SCHEMA)

    async def main() -> int:
        engine = create_engine(settings)
        try:
            if args.authorities_command == "add":
                try:
                    await add_authority(
                        engine,
                        authority_id=args.authority_id,
                        name=args.name,
                        client_id=args.client,
                        key_id=args.key_id,
                        kind=SourceKind(args.kind),
                    )
                except ValueError as exc:
                    print(f"cannot add authority: {exc}", file=sys.stderr)
                    return 2
            elif args.authorities_command == "list":
                for row in await list_authorities(engine):
                    print(json.dumps(row, default=str))
            elif not await remove_authority(engine, args.authority_id):
                print(f"no active authority {args.authority_id}", file=sys.stderr)
                return 1
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _mappings(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, IntakeSettings)
    try:
        codes = load_mappings(settings.mappings_dir)
    except MappingError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps({"mappings_dir": str(settings.mappings_dir), "clients": codes.versions()}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands: dict[str, Any] = {
        "keys": keys_command(
            api_keys,
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            default_scopes=list(SCOPES),
            allowed=lambda s: s in SCOPES or s == KPI_SCOPE,
        ),
        "flaggers": ("manage trusted flaggers", _flaggers, _configure_flaggers),
        "authorities": (
            "manage authorities whose notices are orders",
            _authorities,
            _configure_authorities,
        ),
        "mappings": ("check the reason-code mapping files and exit", _mappings, None),
    }
    try:
        return run_cli(
            settings_factory=lambda: load_settings(IntakeSettings),
            app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
            migrations_dir=MIGRATIONS,
            schema=SCHEMA,
            commands=commands,
            argv=argv,
        )
    except MappingError as exc:
        print(f"intake cannot start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
