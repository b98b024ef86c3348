"""Text-model signals: the shipped abusive-language model and the project's spam/scam model."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from services.classifier.ml import TextModel
from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea

NEGATIVE_LABEL = "none"


def _texts(reports: list[Report], *, folded: bool = False) -> list[tuple[int, str]]:
    if folded:
        return [(i, r.folded_text) for i, r in enumerate(reports) if r.folded_text]
    return [(i, r.normalised_text) for i, r in enumerate(reports) if r.normalised_text]


Probabilities = Callable[[Sequence[str]], npt.NDArray[np.float64]]

# Texts the folded-down predictor must score like the library before it is used.
_PROBES = (
    "you are a worthless idiot",
    "thanks for the recipe, it turned out great",
    "shut up you stupid piece of trash",
    "THE Idiot is an IDIOT, the idiot! Is it not? a b c",
    "tête à tête, ça va? Straße, дурак, you_are_2 dumb4u",
    "",
)


def _linear_profanity(vectorizer: Any, model: Any) -> Probabilities | None:
    """The library's model as one sparse product over its vocabulary, or None if it is not
    one of the shape this reproduces.

    The library is a TF-IDF of lower-cased words (no n-grams, L2-normalised) under
    ``CalibratedClassifierCV``, which averages, over its folds, a sigmoid of each fold's linear
    SVM decision. scikit-learn runs the vectorizer's per-word generators and the folds one by
    one with per-call checks that cost more than the arithmetic. Here each text's words are
    looked up in the vocabulary directly (it holds no stop words, so skipping words it does not
    know drops them as the vectorizer does) and the stacked folds' weights give every report's
    decisions in one product.
    """
    try:
        folds = model.calibrated_classifiers_
        if any(f.method != "sigmoid" or len(f.calibrators) != 1 for f in folds):
            return None
        weights = np.hstack([f.estimator.coef_.T for f in folds])
        intercepts = np.array([f.estimator.intercept_[0] for f in folds])
        slopes = np.array([f.calibrators[0].a_ for f in folds])
        offsets = np.array([f.calibrators[0].b_ for f in folds])
        p = vectorizer.get_params()
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        stop = vectorizer.get_stop_words() or frozenset()
    except (AttributeError, IndexError, ValueError):
        return None
    plain = (
        p.get("analyzer") == "word"
        and p.get("ngram_range") == (1, 1)
        and p.get("lowercase") is True
        and p.get("preprocessor") is None
        and p.get("tokenizer") is None
        and p.get("strip_accents") is None
        and p.get("norm") == "l2"
        and p.get("use_idf") is True
        and not p.get("binary")
        and not p.get("sublinear_tf")
        and not (stop & vocabulary.keys())
        and weights.shape[0] == len(vocabulary) == len(idf)
    )
    if not plain:
        return None
    words = re.compile(p["token_pattern"])
    width = len(vocabulary)

    def predict(texts: Sequence[str]) -> npt.NDArray[np.float64]:
        get = vocabulary.get
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            indices += [j for w in words.findall(text.lower()) if (j := get(w)) is not None]
            indptr.append(len(indices))
        n = len(texts)
        cols = np.asarray(indices, dtype=np.intp)
        # Each occurrence weighs its word's idf, so summing duplicates gives count x idf.
        x = csr_matrix((idf[cols], cols, np.asarray(indptr)), shape=(n, width))
        x.sum_duplicates()
        rows = np.repeat(np.arange(n), np.diff(x.indptr))
        norms = np.sqrt(np.bincount(rows, weights=x.data**2, minlength=n))
        norms[norms == 0] = 1.0
        decisions = (x @ weights) / norms[:, None] + intercepts
        # sigmoid(-z) written with tanh, which cannot overflow.
        z = slopes * decisions + offsets
        probs: npt.NDArray[np.float64] = (0.5 * (1.0 - np.tanh(0.5 * z))).mean(axis=1)
        return np.minimum(probs, 1.0)

    return predict


class ProfanitySignal:
    """The abusive-language model shipped inside ``alt-profanity-check`` (a calibrated SVM)."""

    name = "model:profanity"

    def __init__(self, threshold: float, weight: float = 1.0) -> None:
        import profanity_check
        from profanity_check import profanity_check as library

        self._predict: Probabilities = profanity_check.predict_prob
        fast = _linear_profanity(library.vectorizer, library.model)
        if fast is not None and np.allclose(
            fast(_PROBES), profanity_check.predict_prob(list(_PROBES)), rtol=0, atol=1e-9
        ):
            self._predict = fast
        self.version = f"alt-profanity-check-{version('alt-profanity-check')}"
        self.threshold = threshold
        self.weight = weight

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = [[] for _ in reports]
        # The folded text: spaced, stretched, symbol-padded, leet and look-alike spellings of
        # a word reach the model as the word itself.
        indexed = _texts(reports, folded=True)
        if not indexed:
            return out
        probs = self._predict([t for _, t in indexed])
        for (i, _), p in zip(indexed, probs, strict=True):
            prob = float(p)
            if prob >= self.threshold:
                out[i].append(
                    SignalResult.unchecked(
                        name=self.name,
                        version=self.version,
                        policy_area=PolicyArea.HARASSMENT,
                        score=round(prob, 4),
                        weight=self.weight,
                        detail=f"abusive language p={prob:.2f}",
                        shadow=False,
                    )
                )
        return out


class TextModelSignal:
    """A project-trained text model whose labels are policy areas (plus ``none``).

    Every label other than ``none`` whose probability reaches the threshold becomes a result
    for that policy area, with the probability as its score.
    """

    def __init__(self, model: TextModel, threshold: float, weight: float = 1.0) -> None:
        self.name = f"model:{model.name}"
        self.version = model.version
        self.model = model
        self.threshold = threshold
        self.weight = weight
        # Models trained by this project read the folded text, so evasions fold away first.
        self._folded = model.metadata.get("input") == "folded"
        self._areas: list[tuple[int, PolicyArea]] = []
        for col, label in enumerate(model.labels):
            if label == NEGATIVE_LABEL:
                continue
            try:
                self._areas.append((col, PolicyArea(label)))
            except ValueError as exc:
                raise ValueError(f"{model.path}: label {label!r} is not a policy area") from exc

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = [[] for _ in reports]
        indexed = _texts(reports, folded=self._folded)
        if not indexed:
            return out
        probs = self.model.predict_proba([t for _, t in indexed])
        for row, (i, _) in enumerate(indexed):
            for col, area in self._areas:
                prob = float(probs[row, col])
                if prob >= self.threshold:
                    out[i].append(
                        SignalResult.unchecked(
                            name=self.name,
                            version=self.version,
                            policy_area=area,
                            score=round(prob, 4),
                            weight=self.weight,
                            detail=f"{area.value} p={prob:.2f}",
                            shadow=False,
                        )
                    )
        return out
