"""Text-model signals: the shipped abusive-language model and the project's spam/scam model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt

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
    "",
)


def _linear_profanity(vectorizer: Any, model: Any) -> Probabilities | None:
    """The library's calibrated SVM ensemble as one sparse product, or None if it is not one.

    ``CalibratedClassifierCV`` averages, over its folds, a sigmoid of each fold's linear SVM
    decision; scikit-learn does that fold by fold with per-call checks that cost more than the
    arithmetic. Stacking the folds' weights gives every report's decisions in one product.
    """
    try:
        folds = model.calibrated_classifiers_
        if any(f.method != "sigmoid" or len(f.calibrators) != 1 for f in folds):
            return None
        weights = np.hstack([f.estimator.coef_.T for f in folds])
        intercepts = np.array([f.estimator.intercept_[0] for f in folds])
        slopes = np.array([f.calibrators[0].a_ for f in folds])
        offsets = np.array([f.calibrators[0].b_ for f in folds])
    except (AttributeError, IndexError, ValueError):
        return None

    def predict(texts: Sequence[str]) -> npt.NDArray[np.float64]:
        decisions = vectorizer.transform(texts) @ weights + intercepts
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
        indexed = _texts(reports)
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
