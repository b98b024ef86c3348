"""``python -m services.router [serve|migrate|check]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.router.app import MIGRATIONS, create_app
from services.router.models import SCHEMA
from services.router.policy import load_policy
from services.router.settings import RouterSettings
from shared.config import ServiceSettings, load_settings
from shared.service import run_cli


def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, help="policy file (default: the configured one)")


def _check(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, RouterSettings)
    path = args.path or settings.policy_path
    try:
        policy = load_policy(path)
    except (OSError, ValueError) as exc:
        print(f"{path}: invalid policy:\n{exc}", file=sys.stderr)
        return 1
    print(f"{path}: policy {policy.version} is valid ({len(policy.areas)} areas)")
    return 0


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(RouterSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=MIGRATIONS,
        schema=SCHEMA,
        commands={"check": ("validate a policy file", _check, _configure_check)},
    )


if __name__ == "__main__":
    sys.exit(main())
