"""Text-model signals: the shipped abusive-language model and the project's spam/scam model."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.classifier.ml import TextModel, sparse_product, sparse_rows
from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea

NEGATIVE_LABEL = "none"
# Bumped when what ``LinearProfanity.save`` writes changes.
CACHE_FORMAT = 1

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class LinearProfanity:
    """The library's model as numbers: vocabulary, idf, and the folds' SVMs and sigmoids."""

    token_pattern: str
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]  # words x folds
    intercepts: npt.NDArray[np.float64]
    slopes: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.float64]

    def save(self, path: Path) -> None:
        words = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.savez(
                f,
                token_pattern=np.array(self.token_pattern),
                words=np.array(words),
                idf=self.idf,
                weights=self.weights,
                intercepts=self.intercepts,
                slopes=self.slopes,
                offsets=self.offsets,
            )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LinearProfanity:
        with np.load(path, allow_pickle=False) as f:
            words = [str(w) for w in f["words"]]
            return cls(
                token_pattern=str(f["token_pattern"]),
                vocabulary={w: i for i, w in enumerate(words)},
                idf=f["idf"],
                weights=f["weights"],
                intercepts=f["intercepts"],
                slopes=f["slopes"],
                offsets=f["offsets"],
            )

    @classmethod
    def of(cls, vectorizer: Any, model: Any) -> LinearProfanity | None:
        """The numbers of the library's vectorizer and model, or None if they are not of the
        shape this reproduces."""
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
            and sorted(vocabulary.values()) == list(range(len(vocabulary)))
        )
        if not plain:
            return None
        return cls(
            p["token_pattern"],
            {str(w): int(j) for w, j in vocabulary.items()},
            idf,
            np.asarray(weights, dtype=np.float64),
            intercepts.astype(np.float64),
            slopes.astype(np.float64),
            offsets.astype(np.float64),
        )

    def predictor(self) -> Probabilities:
        """The library's ``predict_prob`` as one sparse product over the vocabulary.

        The library is a TF-IDF of lower-cased words (no n-grams, L2-normalised) under
        ``CalibratedClassifierCV``, which averages, over its folds, a sigmoid of each fold's
        linear SVM decision. scikit-learn runs the vectorizer's per-word generators and the
        folds one by one with per-call checks that cost more than the arithmetic. Here each
        text's words are looked up in the vocabulary directly (it holds no stop words, so
        skipping words it does not know drops them as the vectorizer does) and the stacked
        folds' weights give every report's decisions in one product.
        """
        words = re.compile(self.token_pattern)
        vocabulary, idf, weights = self.vocabulary, self.idf, self.weights
        intercepts, slopes, offsets = self.intercepts, self.slopes, self.offsets

        def predict(texts: Sequence[str]) -> npt.NDArray[np.float64]:
            get = vocabulary.get
            indices: list[int] = []
            indptr = [0]
            for text in texts:
                indices += [j for w in words.findall(text.lower()) if (j := get(w)) is not None]
                indptr.append(len(indices))
            n = len(texts)
            # Each occurrence weighs its word's idf, so summing duplicates gives count x idf.
            rows, cols, data = sparse_rows(indices, indptr, idf[np.asarray(indices, np.intp)])
            norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n))
            norms[norms == 0] = 1.0
            decisions = sparse_product(rows, cols, data, weights, n) / norms[:, None] + intercepts
            # sigmoid(-z) written with tanh, which cannot overflow.
            z = slopes * decisions + offsets
            probs: npt.NDArray[np.float64] = (0.5 * (1.0 - np.tanh(0.5 * z))).mean(axis=1)
            return np.minimum(probs, 1.0)

        return predict


def _library_key() -> str | None:
    """The installed library's version and a digest of its model files, or None if missing.

    Found without importing the package: importing it unpickles the model (scikit-learn)."""
    spec = importlib.util.find_spec("profanity_check")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{version('alt-profanity-check')}".encode())
    for name in ("vectorizer.joblib", "model.joblib"):
        try:
            digest.update((data / name).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()[:16]


class ProfanitySignal:
    """The abusive-language model shipped inside ``alt-profanity-check`` (a calibrated SVM).

    The model's numbers are read from the library once, checked against the library's own
    scores on probe texts, and kept in ``cache_dir`` (when given and writable) under a digest of
    the library's model files: a restart then loads them without importing scikit-learn.
    """

    name = "model:profanity"

    def __init__(
        self, threshold: float, weight: float = 1.0, cache_dir: Path | None = None
    ) -> None:
        self.version = f"alt-profanity-check-{version('alt-profanity-check')}"
        self.threshold = threshold
        self.weight = weight
        key = _library_key()
        cached = cache_dir / f"profanity-{key}.npz" if cache_dir and key else None
        if cached is not None and cached.is_file():
            try:
                self._predict = LinearProfanity.load(cached).predictor()
                return
            except (OSError, ValueError, KeyError):
                logger.warning("unreadable profanity cache %s; reading the library", cached)
        self._predict = self._from_library(cached)

    @staticmethod
    def _from_library(cached: Path | None) -> Probabilities:
        import profanity_check
        from profanity_check import profanity_check as library

        linear = LinearProfanity.of(library.vectorizer, library.model)
        if linear is None or not np.allclose(
            linear.predictor()(_PROBES),
            profanity_check.predict_prob(list(_PROBES)),
            rtol=0,
            atol=1e-9,
        ):
            predict: Probabilities = profanity_check.predict_prob
            return predict
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                linear.save(cached)
            except OSError as exc:
                logger.info("profanity cache not written to %s: %s", cached, exc)
        return linear.predictor()

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = [[] for _ in reports]
        # The folded text: spaced, stretched, symbol-padded, leet and look-alike spellings of
        # a word reach the model as the word itself.
        indexed = _texts(reports, folded=True)
        if not indexed:
            return out
        probs = self._predict([t for _, t in indexed]).tolist()
        area, name, version_, weight = PolicyArea.HARASSMENT, self.name, self.version, self.weight
        threshold, result = self.threshold, SignalResult.unchecked
        for (i, _), prob in zip(indexed, probs, strict=True):
            if prob >= threshold:
                out[i].append(
                    result(
                        name=name,
                        version=version_,
                        policy_area=area,
                        score=round(prob, 4),
                        weight=weight,
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
        columns = [col for col, _ in self._areas]
        # The areas' probabilities as Python floats, one row per text.
        table = probs[:, columns].tolist()
        areas = [(area, area.value) for _, area in self._areas]
        name, version_, weight = self.name, self.version, self.weight
        threshold, result = self.threshold, SignalResult.unchecked
        for (i, _), row in zip(indexed, table, strict=True):
            for (area, label), prob in zip(areas, row, strict=True):
                if prob >= threshold:
                    out[i].append(
                        result(
                            name=name,
                            version=version_,
                            policy_area=area,
                            score=round(prob, 4),
                            weight=weight,
                            detail=f"{label} p={prob:.2f}",
                            shadow=False,
                        )
                    )
        return out
