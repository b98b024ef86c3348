"""``python -m services.classifier [serve|migrate|keys|train|calibrate|evaluate|export-labels]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from services.classifier.app import MIGRATIONS, build_handler, create_app
from services.classifier.models import SCHEMA, api_keys
from services.classifier.settings import ClassifierSettings
from services.classifier.training import (
    classify_rows,
    evaluate_classifications,
    export_labels,
    fit_calibration,
    format_evaluation,
    read_rows,
    train,
)
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine, migrate
from shared.service import run_cli

SCOPES = ("banks:read", "banks:write")


def _train(settings: ServiceSettings, args: argparse.Namespace) -> int:
    meta = train(args.data, args.out, name=args.name)
    print(json.dumps({"out": str(args.out), **meta}))
    return 0


def _calibrate(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, ClassifierSettings)
    raw_settings = settings.model_copy(update={"calibration_path": None})
    handler = build_handler(raw_settings, with_context=False)
    rows = read_rows(args.data)
    calibration = fit_calibration(classify_rows(handler, rows), rows, handler.runner.versions)
    args.out.write_text(calibration.to_json() + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "version": calibration.version,
                "areas": sorted(a.value for a in calibration.areas),
            }
        )
    )
    return 0


def _evaluate(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, ClassifierSettings)
    handler = build_handler(settings, with_context=False)
    rows = read_rows(args.data)
    print(format_evaluation(evaluate_classifications(classify_rows(handler, rows), rows)))
    return 0


def _export(settings: ServiceSettings, args: argparse.Namespace) -> int:
    migrate(MIGRATIONS, settings.database_url, SCHEMA)

    async def main() -> int:
        engine = create_engine(settings)
        try:
            return await export_labels(engine, args.out, limit=args.limit)
        finally:
            await engine.dispose()

    n = asyncio.run(main())
    print(json.dumps({"out": str(args.out), "rows": n}))
    return 0


def _data_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="CSV with text,label columns")
    p.add_argument("--out", type=Path, required=True)


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="CSV with text,label columns")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="model file: .onnx writes ONNX (word-vocabulary features), "
        "any other suffix a joblib scikit-learn pipeline (hashed features)",
    )
    p.add_argument("--name", default="spam", help="model name, recorded in its version")


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="CSV with text,label columns")


def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=int, default=None)


def main() -> int:
    return run_cli(
        settings_factory=lambda: load_settings(ClassifierSettings),
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
            ),
            "train": ("train a text model from a labelled CSV", _train, _configure_train),
            "calibrate": (
                "fit the per-area score calibration on a labelled CSV",
                _calibrate,
                _data_out,
            ),
            "evaluate": (
                "precision, recall, F1 per category and the reliability table",
                _evaluate,
                _configure_evaluate,
            ),
            "export-labels": (
                "write reviewer decisions as a labelled CSV",
                _export,
                _configure_export,
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
