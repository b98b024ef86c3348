"""``python -m services.intake [serve|migrate|keys ...|flaggers ...|authorities ...|mappings]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.app import MIGRATIONS, create_app
from services.intake.mappings import MappingError, load_mappings
from services.intake.models import SCHEMA, api_keys, authorities, trusted_flaggers
from services.intake.registry import (
    add_authority,
    add_flagger,
    list_registered,
    remove_registered,
)
from services.intake.settings import IntakeSettings
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine, migrate
from shared.events import SourceKind
from shared.kpi import KPI_SCOPE
from shared.service import Command, run_cli
from shared.taxonomy import PolicyArea

SCOPES = ("reports:write", "reports:read")


def _registry_command(
    name: str,
    *,
    noun: str,
    table: Table,
    help_text: str,
    add_help: str,
    list_help: str,
    remove_help: str,
    add_options: Callable[[argparse.ArgumentParser], None],
    add: Callable[[AsyncEngine, argparse.Namespace], Awaitable[None]],
) -> tuple[str, Command, Callable[[argparse.ArgumentParser], None]]:
    """The ``NAME add|list|remove`` command over one registry table, as a ``run_cli`` entry.

    ``add`` registers the entry from the parsed arguments (``ValueError``: exit 2); ``list``
    prints every entry as a JSON line; ``remove`` of no active entry exits 1.
    """
    action, entry_id = f"{name}_command", f"{noun}_id"

    def configure(p: argparse.ArgumentParser) -> None:
        sub = p.add_subparsers(dest=action, required=True)
        a = sub.add_parser("add", help=add_help)
        a.add_argument(entry_id)
        a.add_argument("--name", required=True)
        add_options(a)
        sub.add_parser("list", help=list_help)
        r = sub.add_parser("remove", help=remove_help)
        r.add_argument(entry_id)

    def run(settings: ServiceSettings, args: argparse.Namespace) -> int:
        migrate(MIGRATIONS, settings.database_url, SCHEMA)

        async def main() -> int:
            engine = create_engine(settings)
            try:
                if getattr(args, action) == "add":
                    try:
                        await add(engine, args)
                    except ValueError as exc:
                        print(f"cannot add {noun}: {exc}", file=sys.stderr)
                        return 2
                elif getattr(args, action) == "list":
                    for row in await list_registered(engine, table):
                        print(json.dumps(row, default=str))
                elif not await remove_registered(engine, table, getattr(args, entry_id)):
                    print(f"no active {noun} {getattr(args, entry_id)}", file=sys.stderr)
                    return 1
                return 0
            finally:
                await engine.dispose()

        return asyncio.run(main())

    return help_text, run, configure


def _flagger_options(a: argparse.ArgumentParser) -> None:
    a.add_argument("--client", help="notices from this client id are the flagger's")
    a.add_argument("--key-id", help="or only notices sent with this API key id")
    a.add_argument(
        "--areas", required=True, help="comma-separated designated policy areas, e.g. hate_speech"
    )


async def _add_flagger(engine: AsyncEngine, args: argparse.Namespace) -> None:
    await add_flagger(
        engine,
        flagger_id=args.flagger_id,
        name=args.name,
        client_id=args.client,
        key_id=args.key_id,
        policy_areas=[PolicyArea(a.strip()) for a in args.areas.split(",") if a.strip()],
    )


def _authority_options(a: argparse.ArgumentParser) -> None:
    a.add_argument(
        "--kind",
        choices=[k.value for k in SourceKind],
        default=SourceKind.LEGAL_ORDER.value,
        help="legal_order (default): orders, with their legal clocks; law_enforcement: "
        "referrals; regulator: requests; advertiser: brand-safety complaints",
    )
    a.add_argument("--client", help="notices from this client id are the source's")
    a.add_argument("--key-id", help="or only notices sent with this API key id")


async def _add_authority(engine: AsyncEngine, args: argparse.Namespace) -> None:
    await add_authority(
        engine,
        authority_id=args.authority_id,
        name=args.name,
        client_id=args.client,
        key_id=args.key_id,
        kind=SourceKind(args.kind),
    )


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
        "flaggers": _registry_command(
            "flaggers",
            noun="flagger",
            table=trusted_flaggers,
            help_text="manage trusted flaggers",
            add_help="register a trusted flagger (DSA Art. 22)",
            list_help="list trusted flaggers",
            remove_help="remove a trusted flagger",
            add_options=_flagger_options,
            add=_add_flagger,
        ),
        "authorities": _registry_command(
            "authorities",
            noun="authority",
            table=authorities,
            help_text="manage authorities whose notices are orders",
            add_help="register a source of its own kind: an authority sending legal orders, "
            "law enforcement, a regulator, or an advertiser",
            list_help="list authorities",
            remove_help="remove an authority",
            add_options=_authority_options,
            add=_add_authority,
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
