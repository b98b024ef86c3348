"""The classifier builds its output without re-validating it; the output must still be valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import profanity_check
import pytest

from services.classifier.app import build_handler
from services.classifier.settings import PACKAGE, ClassifierSettings
from services.classifier.signals.text_models import ProfanitySignal
from services.classifier.training import read_rows, report_for
from shared.events import ReportClassified
from shared.taxonomy import PolicyArea

TEXTS = [
    "you are a worthless idiot, just go die",
    "CLICK HERE to win a FREE iPhone!!! http://free-prizes.example.com/claim?id=8812",
    "Your account will be suspended, verify your account at http://paypa1-login.com/verify",
    "Thanks for the recipe, the lasagne turned out great!",
    "",
]


def test_every_classified_event_validates_against_the_contract_unchanged() -> None:
    handler = build_handler(ClassifierSettings(), with_context=False)
    out = handler.classify_reports([report_for(t, PolicyArea.HARASSMENT) for t in TEXTS])
    assert len(out) == len(TEXTS)
    assert any(e.payload.classification.signals for e in out)
    for event in out:
        parsed = ReportClassified.from_bytes(event.to_bytes())
        assert parsed == event
        assert parsed.model_dump() == event.model_dump()


def test_the_profanity_signal_scores_exactly_like_the_library() -> None:
    texts = [
        *TEXTS,
        "shut up you stupid piece of trash",
        "nobody likes you, kys loser",
        "THE Idiot is an IDIOT, the idiot!",
        "t\u00eate \u00e0 t\u00eate, \u00e7a va? \u0434\u0443\u0440\u0430\u043a you_are_2 dumb4u",
        "",
        "the and of it",
        *(row.text for row in read_rows(PACKAGE / "data" / "eval.csv")),
    ]
    signal = ProfanitySignal(threshold=0.5)
    # The signal's own product, not the library's function it falls back to.
    assert signal._predict is not profanity_check.predict_prob
    ours = signal._predict(texts)
    theirs = profanity_check.predict_prob(texts)
    assert np.allclose(ours, theirs, rtol=0, atol=1e-9)


def test_the_spam_model_scores_like_onnxruntime() -> None:
    import onnxruntime

    from services.classifier.ml import OnnxEstimator, SparseLinearText, load_model
    from shared.text import fold

    path = ClassifierSettings().spam_model_path
    model = load_model(path)
    # The loader's own sparse product, not onnxruntime's session it falls back to.
    assert isinstance(model.estimator, SparseLinearText)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    reference = OnnxEstimator(session, model.labels)
    texts = [fold(t) for t in TEXTS] + [
        fold(row.text) for row in read_rows(PACKAGE / "data" / "eval.csv")
    ]
    ours = model.predict_proba(texts)
    assert ours.shape == (len(texts), len(model.labels))
    assert np.allclose(ours, reference.predict_proba(texts), rtol=0, atol=1e-6)
    assert np.allclose(ours.sum(axis=1), 1.0)


def test_a_restart_reads_the_profanity_model_from_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [*TEXTS, "shut up you stupid piece of trash", "nobody likes you, kys loser"]
    first = ProfanitySignal(threshold=0.01, cache_dir=tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith("profanity-") and cached.suffix == ".npz"

    def no_library(*args: object) -> None:
        raise AssertionError("read the library again instead of the cache")

    monkeypatch.setattr(ProfanitySignal, "_from_library", staticmethod(no_library))
    second = ProfanitySignal(threshold=0.01, cache_dir=tmp_path)
    assert np.array_equal(second._predict(texts), first._predict(texts))
    assert np.allclose(second._predict(texts), profanity_check.predict_prob(texts), atol=1e-9)

    # A damaged file is read from the library again (and rewritten), never trusted.
    monkeypatch.undo()
    cached.write_bytes(b"not a cache")
    third = ProfanitySignal(threshold=0.01, cache_dir=tmp_path)
    assert np.array_equal(third._predict(texts), first._predict(texts))
