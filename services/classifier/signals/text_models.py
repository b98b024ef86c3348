"""Text-model signals: the shipped abusive-language model and the project's spam/scam model."""

from __future__ import annotations

from importlib.metadata import version

from services.classifier.ml import TextModel
from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea

NEGATIVE_LABEL = "none"


def _texts(reports: list[Report], *, folded: bool = False) -> list[tuple[int, str]]:
    if folded:
        return [(i, r.folded_text) for i, r in enumerate(reports) if r.folded_text]
    return [(i, r.normalised_text) for i, r in enumerate(reports) if r.normalised_text]


class ProfanitySignal:
    """The abusive-language model shipped inside ``alt-profanity-check`` (a calibrated SVM)."""

    name = "model:profanity"

    def __init__(self, threshold: float, weight: float = 1.0) -> None:
        import profanity_check

        self._predict = profanity_check.predict_prob
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
                    SignalResult(
                        name=self.name,
                        version=self.version,
                        policy_area=PolicyArea.HARASSMENT,
                        score=round(prob, 4),
                        weight=self.weight,
                        detail=f"abusive language p={prob:.2f}",
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
                        SignalResult(
                            name=self.name,
                            version=self.version,
                            policy_area=area,
                            score=round(prob, 4),
                            weight=self.weight,
                            detail=f"{area.value} p={prob:.2f}",
                        )
                    )
        return out
