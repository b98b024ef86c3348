"""``python -m services.enforcement [serve|migrate|verify]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from services.enforcement.app import MIGRATIONS, create_app
from services.enforcement.audit import verify
from services.enforcement.models import SCHEMA
from services.enforcement.settings import EnforcementSettings
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine
from shared.service import run_cli


def _verify(settings: ServiceSettings, _: argparse.Namespace) -> int:
    async def main() -> int:
        engine = create_engine(settings)
        try:
            result = await verify(engine)
        finally:
            await engine.dispose()
        print(json.dumps(dataclasses.asdict(result)))
        if not result.ok:
            print(
                f"audit chain broken at record {result.first_broken_seq}: {result.reason}",
                file=sys.stderr,
            )
        return 0 if result.ok else 1

    return asyncio.run(main())


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(EnforcementSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={"verify": ("verify the audit hash chain", _verify, None)},
    )


if __name__ == "__main__":
    sys.exit(main())
