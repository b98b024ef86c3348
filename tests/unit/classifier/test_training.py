"""Model files, training and evaluation on small labelled sets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from services.classifier.app import build_handler
from services.classifier.ml import ModelLoadError, load_model
from services.classifier.settings import DEFAULT_SPAM_MODEL, PACKAGE, ClassifierSettings
from services.classifier.training import (
    Row,
    classify_rows,
    evaluate_classifications,
    format_evaluation,
    read_rows,
    train,
)


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def test_the_shipped_spam_model_loads_with_its_version_and_labels() -> None:
    model = load_model(DEFAULT_SPAM_MODEL)
    assert model.version.startswith("spam-")
    assert set(model.labels) == {"none", "spam", "scams_fraud"}
    assert DEFAULT_SPAM_MODEL.stat().st_size < 1_000_000


def test_train_writes_a_versioned_model_that_loads_and_predicts(tmp_path: Path) -> None:
    rows = [(f"buy cheap followers now {i}", "spam") for i in range(20)]
    rows += [(f"see you at lunch tomorrow {i}", "none") for i in range(20)]
    meta = train(_csv(tmp_path / "d.csv", rows), tmp_path / "m.joblib", name="tiny")
    model = load_model(tmp_path / "m.joblib")
    assert model.version == meta["version"] and model.version.startswith("tiny-")
    probs = model.predict_proba(["buy cheap followers", "lunch tomorrow"])
    spam = model.labels.index("spam")
    assert probs[0, spam] > 0.5 > probs[1, spam]


def test_unsupported_and_foreign_model_files_are_refused(tmp_path: Path) -> None:
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x01")
    with pytest.raises(ModelLoadError, match="onnxruntime"):
        load_model(onnx)
    with pytest.raises(ModelLoadError, match="no such"):
        load_model(tmp_path / "missing.joblib")
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        load_model(bad)


def test_bad_labels_are_refused_with_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", [("hello", "none"), ("x", "not-an-area")])
    with pytest.raises(ValueError, match=":3: unknown label"):
        read_rows(path)


def test_evaluation_reports_per_category_metrics_and_reliability() -> None:
    handler = build_handler(ClassifierSettings(), with_context=False)
    rows = read_rows(PACKAGE / "data" / "eval.csv")
    ev = evaluate_classifications(classify_rows(handler, rows), rows)
    assert ev.per_label["spam"][2] > 0.8
    assert ev.per_label["harassment"][2] > 0.8
    assert ev.per_label["none"][0] > 0.8  # few false alarms
    assert sum(n for _, _, n, _, _ in ev.reliability) == len(rows) * (len(ev.per_label) - 1)
    text = format_evaluation(ev)
    assert "precision" in text and "[0.9, 1.0)" in text


def test_evaluation_counts_a_miss_against_recall() -> None:
    handler = build_handler(ClassifierSettings(), with_context=False)
    rows = [Row("what a lovely day", "harassment"), Row("you worthless idiot", "harassment")]
    ev = evaluate_classifications(classify_rows(handler, rows), rows)
    assert ev.per_label["harassment"][:2] == (1.0, 0.5)
