"""``python -m services.router [serve|migrate|check|keys ...]``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from services.router.app import MIGRATIONS, create_app
from services.router.models import SCHEMA, api_keys
from services.router.policy import load_policy
from services.router.settings import RouterSettings
from services.router.staffing import COMMAND as STAFFING
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.service import run_cli

# review:<queue> or review:* for queues (the QA queue too, e.g. review:qa); ops:read for figures;
# kpi:read for the operations KPI and capacity routes.
_SCOPE = re.compile(r"^(review:(\*|[a-z0-9][a-z0-9_-]{0,62})|ops:read|kpi:read)$")


def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, help="policy file (default: the configured one)")


def _check(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, RouterSettings)
    paths = [args.path] if args.path else [settings.policy_path, *settings.shadow_policy_paths]
    status = 0
    for path in paths:
        try:
            policy = load_policy(path)
        except (OSError, ValueError) as exc:
            print(f"{path}: invalid policy:\n{exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: policy {policy.version} is valid ({len(policy.areas)} areas)")
    return status


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(RouterSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={
            "check": ("validate policy files", _check, _configure_check),
            "staffing": STAFFING,
            "keys": keys_command(
                api_keys,
                migrations_dir=MIGRATIONS,
                schema=SCHEMA,
                default_scopes=["review:general"],
                allowed=lambda s: bool(_SCOPE.match(s)),
                principal="reviewer",
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
