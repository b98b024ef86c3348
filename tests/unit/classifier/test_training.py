"""Model files, training and evaluation on small labelled sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.helper import set_model_props
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType

from services.classifier import training
from services.classifier.app import build_handler
from services.classifier.evaluation import (
    evaluate_by_source,
    evaluate_classifications,
    evaluation_html,
    format_evaluation,
)
from services.classifier.ml import ONNX_FORMAT, ModelLoadError, load_model
from services.classifier.settings import DEFAULT_SPAM_MODEL, PACKAGE, ClassifierSettings
from services.classifier.training import Row, classify_rows, read_rows, report_for, train
from shared.text import fold


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def _spam_rows() -> list[tuple[str, str]]:
    rows = [(f"buy cheap followers now, limited offer {i}", "spam") for i in range(20)]
    rows += [(f"claim your prize, send the fee to unlock it {i}", "scams_fraud") for i in range(20)]
    rows += [(f"see you at lunch tomorrow, bring the notes {i}", "none") for i in range(20)]
    return rows


# Folded like the classifier folds report text; edge cases of the tokenizer included.
PROBES = [
    fold(t)
    for t in (
        "buy cheap followers",
        "b.u.y ch3ap f0ll0wers n0w!!!",
        "claim your prize now",
        "lunch tomorrow?",
        "see you at lunch, a b c",
        "Привет, купи followers",
        "日本語 followers_now x",
        "!!!",
        "",
    )
]


def _without_props(src: Path, dest: Path, keep: set[str]) -> Path:
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props if p.key in keep}
    del model.metadata_props[:]
    set_model_props(model, props)
    onnx.save(model, str(dest))
    return dest


def test_the_shipped_spam_model_loads_with_its_version_and_labels() -> None:
    model = load_model(DEFAULT_SPAM_MODEL)
    assert model.version.startswith("spam-")
    assert set(model.labels) == {"none", "spam", "scams_fraud"}
    # Small enough to ship in the repository and load in well under a second.
    assert DEFAULT_SPAM_MODEL.stat().st_size < 3_000_000
    assert {"spamassassin-2002", "spamassassin-2003"} <= set(json.loads(model.metadata["sources"]))


def test_train_writes_a_versioned_model_that_loads_and_predicts(tmp_path: Path) -> None:
    rows = [(f"buy cheap followers now {i}", "spam") for i in range(20)]
    rows += [(f"see you at lunch tomorrow {i}", "none") for i in range(20)]
    meta = train(_csv(tmp_path / "d.csv", rows), tmp_path / "m.joblib", name="tiny")
    model = load_model(tmp_path / "m.joblib")
    assert model.version == meta["version"] and model.version.startswith("tiny-")
    probs = model.predict_proba(["buy cheap followers", "lunch tomorrow"])
    spam = model.labels.index("spam")
    assert probs[0, spam] > 0.5 > probs[1, spam]


def test_rows_of_short_message_sources_count_more_in_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same texts are spam in the mail and chat in a short-message source, beside other
    # mail chat: weighted, the chat rows pull those texts further from spam than unweighted.
    data = tmp_path / "d.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label", "source"])
        w.writerows([f"hello there {i}", "spam", "mail"] for i in range(20))
        w.writerows([f"hello there {i}", "none", "chatterbot-corpus"] for i in range(20))
        w.writerows([f"meeting notes {i}", "none", "mail"] for i in range(20))

    def spam_probability(out: Path) -> float:
        model = load_model(out)
        return float(model.predict_proba(["hello there"])[0, model.labels.index("spam")])

    meta = train(data, tmp_path / "weighted.joblib", onnx=True)
    assert meta["source_weights"] == {"chatterbot-corpus": 3.0}
    monkeypatch.setattr(training, "SOURCE_WEIGHTS", {})
    unweighted = train(data, tmp_path / "unweighted.joblib", onnx=True)
    assert unweighted["version"] != meta["version"]
    weighted_p = spam_probability(tmp_path / "weighted.joblib")
    assert weighted_p < spam_probability(tmp_path / "unweighted.joblib") - 0.05


def test_unsupported_and_foreign_model_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "m.onnx"
    garbage.write_bytes(b"\x08\x01")
    with pytest.raises(ModelLoadError, match=r"m\.onnx: not a readable model file"):
        load_model(garbage)
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
    # The shipped classifier on the held-apart evaluation set (never trained or calibrated on).
    assert ev.per_label["spam"][2] > 0.9
    assert ev.areas["spam"].roc_auc > 0.98
    assert ev.per_label["harassment"][1] >= 0.8  # recall
    assert ev.per_label["none"][0] > 0.9  # few false alarms
    assert sum(n for _, _, n, _, _ in ev.reliability) == len(rows) * (len(ev.per_label) - 1)
    assert sum(sum(r.values()) for r in ev.confusion.values()) == len(rows)
    text = format_evaluation(ev)
    assert "precision" in text and "[0.9, 1.0)" in text and "ROC-AUC" in text
    by_source = evaluate_by_source(classify_rows(handler, rows[:200]), rows[:200])
    assert by_source["all"].rows == 200
    assert sum(e.rows for k, e in by_source.items() if k != "all") == 200
    page = evaluation_html(by_source, "eval")
    assert page.count("<svg") >= len(by_source["all"].areas)
    assert "<h2>all (200 reports)</h2>" in page


def test_evaluation_counts_a_miss_against_recall() -> None:
    handler = build_handler(ClassifierSettings(), with_context=False)
    rows = [Row("what a lovely day", "harassment"), Row("you worthless idiot", "harassment")]
    ev = evaluate_classifications(classify_rows(handler, rows), rows)
    assert ev.per_label["harassment"][:2] == (1.0, 0.5)


def test_train_writes_an_onnx_model_that_agrees_with_the_same_pipeline_saved_by_joblib(
    tmp_path: Path,
) -> None:
    data = _csv(tmp_path / "d.csv", _spam_rows())
    meta = train(data, tmp_path / "m.onnx", name="tiny")
    same = train(data, tmp_path / "m.joblib", name="tiny", onnx=True)
    model, reference = load_model(tmp_path / "m.onnx"), load_model(tmp_path / "m.joblib")
    assert meta["format"] == model.metadata["format"] == ONNX_FORMAT
    assert model.name == "tiny"
    assert model.version == meta["version"] == same["version"]
    assert model.version.startswith("tiny-")
    assert model.labels == reference.labels == ("none", "scams_fraud", "spam")
    assert model.metadata["input"] == "folded"
    assert json.loads(model.metadata["label_counts"]) == {"none": 20, "scams_fraud": 20, "spam": 20}
    probs = model.predict_proba(PROBES)
    assert probs.dtype == np.float64 and probs.shape == (len(PROBES), 3)
    np.testing.assert_allclose(probs, reference.predict_proba(PROBES), rtol=0, atol=1e-4)
    spam = model.labels.index("spam")
    assert probs[0, spam] > 0.5 > probs[3, spam]
    assert model.predict_proba([]).shape == (0, 3)


def test_the_hashed_pipeline_is_refused_for_onnx_with_the_reason(tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv", _spam_rows())
    with pytest.raises(ValueError, match=r"cannot be converted to ONNX.*HashingVectorizer"):
        train(data, tmp_path / "m.onnx", onnx=False)
    assert not (tmp_path / "m.onnx").exists()


def test_onnx_files_without_the_metadata_are_refused_naming_the_missing_key(
    tmp_path: Path,
) -> None:
    model = tmp_path / "m.onnx"
    train(_csv(tmp_path / "d.csv", _spam_rows()), model)
    bare = _without_props(model, tmp_path / "bare.onnx", keep=set())
    with pytest.raises(ModelLoadError, match=r"bare\.onnx: ONNX metadata has no 'tns_format'"):
        load_model(bare)
    no_labels = _without_props(model, tmp_path / "nl.onnx", keep={"tns_format", "name", "version"})
    with pytest.raises(ModelLoadError, match=r"nl\.onnx: ONNX metadata has no 'labels'"):
        load_model(no_labels)


def test_onnx_labels_must_match_the_probability_columns(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    train(_csv(tmp_path / "d.csv", _spam_rows()), model)
    wrong = onnx.load(str(model))
    for prop in wrong.metadata_props:
        if prop.key == "labels":
            prop.value = json.dumps(["none", "spam"])
    onnx.save(wrong, str(tmp_path / "wrong.onnx"))
    with pytest.raises(ModelLoadError, match=r"not \[N, 2\] for the 2 labels"):
        load_model(tmp_path / "wrong.onnx")


def test_an_onnx_zipmap_output_is_read_in_the_order_of_the_labels(tmp_path: Path) -> None:
    train(_csv(tmp_path / "d.csv", _spam_rows()), tmp_path / "m.joblib", onnx=True)
    reference = load_model(tmp_path / "m.joblib")
    exported = to_onnx(reference.estimator, initial_types=[("text", StringTensorType([None, 1]))])
    # Labels listed in another order than the classifier's columns: the map is read by label.
    labels = ["spam", "none", "scams_fraud"]
    set_model_props(
        exported,
        {"tns_format": ONNX_FORMAT, "name": "z", "version": "z-1", "labels": json.dumps(labels)},
    )
    onnx.save(exported, str(tmp_path / "z.onnx"))
    model = load_model(tmp_path / "z.onnx")
    assert model.labels == tuple(labels)
    order = [reference.labels.index(label) for label in labels]
    np.testing.assert_allclose(
        model.predict_proba(PROBES), reference.predict_proba(PROBES)[:, order], rtol=0, atol=1e-4
    )


def test_the_classifier_runs_with_an_onnx_spam_model(tmp_path: Path) -> None:
    meta = train(_csv(tmp_path / "d.csv", _spam_rows()), tmp_path / "spam.onnx", name="spam")
    settings = ClassifierSettings(spam_model_path=tmp_path / "spam.onnx")
    handler = build_handler(settings, with_context=False)
    assert handler.runner.versions["model:spam"] == meta["version"]
    spam, chat = (
        e.payload.classification
        for e in handler.classify_reports(
            [report_for("BUY cheap f0ll0wers now"), report_for("lunch tomorrow?")]
        )
    )
    assert spam.versions["model:spam"] == meta["version"]
    fired = {s.name: s for s in spam.signals}
    assert fired["model:spam"].policy_area.value == "spam"
    chat_spam = [s.score for s in chat.signals if s.name == "model:spam"]
    assert max(chat_spam, default=0.0) < fired["model:spam"].score


def test_evaluation_reports_carry_their_urls_so_the_url_signal_is_scored() -> None:
    # evaluate and calibrate build reports as intake does: URLs extracted from the text.
    report = report_for("your account is locked, verify at paypa1-login.com/verify now")
    assert report.urls == ["https://paypa1-login.com/verify"]
    handler = build_handler(ClassifierSettings(), with_context=False)
    (event,) = handler.classify_reports([report])
    assert any(s.name.startswith("url:") for s in event.payload.classification.signals)
