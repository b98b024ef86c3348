"""``python -m services.classifier [serve]``."""

from __future__ import annotations

import sys

from services.classifier.app import create_app
from services.classifier.settings import ClassifierSettings
from shared.config import load_settings
from shared.service import run_cli


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(ClassifierSettings),
        app_factory=lambda s: create_app(s),  # type: ignore[arg-type]
        migrations_dir=None,
        schema=None,
    )


if __name__ == "__main__":
    sys.exit(main())
