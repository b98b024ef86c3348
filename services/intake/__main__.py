"""``python -m services.intake [serve|migrate|keys ...]``."""

from __future__ import annotations

import sys

from services.intake.app import MIGRATIONS, create_app
from services.intake.models import SCHEMA, api_keys
from services.intake.settings import IntakeSettings
from shared.apikeys import keys_command
from shared.config import load_settings
from shared.service import run_cli

SCOPES = ("reports:write", "reports:read")


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(IntakeSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={
            "keys": keys_command(
                api_keys,
                migrations_dir=MIGRATIONS,
                schema=SCHEMA,
                default_scopes=list(SCOPES),
                allowed=lambda s: s in SCOPES,
            )
        },
    )


if __name__ == "__main__":
    sys.exit(main())
