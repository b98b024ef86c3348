"""Loading text-classification model files by path, each with its name, version and labels.

A loader is chosen by the file suffix, so another format is one more entry in ``LOADERS``:

- ``.joblib``, ``.pkl``: scikit-learn pipelines saved by ``python -m services.classifier train``
  (joblib files holding the pipeline with its metadata);
- ``.onnx``: ONNX text classifiers run by ``onnxruntime`` (one thread, CPU), such as those the
  train command writes. The model takes one string input of shape ``[N, 1]`` or ``[N]`` and
  gives a float probability tensor with one column per label (or scikit-learn's ZipMap of label
  to probability). Name, version and labels are the model's metadata properties:
  ``tns_format`` = ``tns-onnx-text-v1``, ``name``, ``version`` and ``labels`` (a JSON list, in
  the order of the probability columns); any other properties, ``input`` among them, are kept in
  ``TextModel.metadata``.

Joblib model files are code (joblib unpickles): load only files shipped in the package or
trained by this project, never files received from outside. ONNX files run no Python, but a
model decides what is flagged: the same rule applies to them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

MODEL_FORMAT = "tns-sklearn-text-v1"
ONNX_FORMAT = "tns-onnx-text-v1"
# Metadata properties an ONNX model file must carry, in the order they are checked.
ONNX_REQUIRED_KEYS = ("tns_format", "name", "version", "labels")


class ModelLoadError(ValueError):
    """The file is missing, of an unsupported format, or not a model this project wrote."""


class Estimator(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True, slots=True)
class TextModel:
    """A loaded model: ``predict_proba`` gives one column per label, in ``labels`` order."""

    name: str
    version: str
    labels: tuple[str, ...]
    estimator: Estimator
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return self.estimator.predict_proba(texts)


def _load_sklearn(path: Path) -> TextModel:
    import joblib  # scikit-learn comes with the pickle: only for these files

    try:
        bundle = joblib.load(path)
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a readable model file: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise ModelLoadError(f"{path}: not a {MODEL_FORMAT} model file")
    estimator = bundle["pipeline"]
    labels = tuple(str(c) for c in estimator.classes_)
    return TextModel(
        name=str(bundle["name"]),
        version=str(bundle["version"]),
        labels=labels,
        estimator=estimator,
        path=path,
        metadata={k: v for k, v in bundle.items() if k not in {"pipeline"}},
    )


def _probability_output(outputs: Sequence[Any], types: tuple[str, ...]) -> Any | None:
    """The output named ``probabilities``, else the only one of ``types``; None if ambiguous."""
    found = [o for o in outputs if o.type in types]
    named = [o for o in found if o.name == "probabilities"]
    if named:
        return named[0]
    return found[0] if len(found) == 1 else None


class OnnxEstimator:
    """``predict_proba`` over an ``onnxruntime`` session of a text classifier."""

    def __init__(self, session: Any, labels: tuple[str, ...]) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(string)":
            found = ", ".join(f"{i.name}: {i.type}" for i in inputs)
            raise ValueError(f"needs one string input, has {found or 'none'}")
        shape = inputs[0].shape or []
        if shape and (len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] not in (1, None))):
            raise ValueError(f"input {inputs[0].name!r} has shape {shape}, not [N, 1] or [N]")
        self._input = inputs[0].name
        self._column = len(shape) != 1
        # A probability tensor (scikit-learn exports without ZipMap) or else a ZipMap.
        out = _probability_output(outputs, ("tensor(float)", "tensor(double)"))
        self._zipmap = out is None
        if out is None:
            out = _probability_output(
                outputs, ("seq(map(string,tensor(float)))", "seq(map(int64,tensor(float)))")
            )
        if out is None:
            found = ", ".join(f"{o.name}: {o.type}" for o in outputs)
            raise ValueError(f"has no single probability output (outputs: {found})")
        width = out.shape[-1] if out.shape else None
        if out.shape and (len(out.shape) != 2 or (isinstance(width, int) and width != len(labels))):
            raise ValueError(
                f"output {out.name!r} has shape {out.shape}, not [N, {len(labels)}] "
                f"for the {len(labels)} labels"
            )
        self._output = out.name
        self._session = session
        self.labels = labels

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        if not texts:
            return np.zeros((0, len(self.labels)))
        feed = np.array(list(texts), dtype=object)
        if self._column:
            feed = feed.reshape(-1, 1)
        (result,) = self._session.run([self._output], {self._input: feed})
        if self._zipmap:
            try:
                rows = [{str(k): v for k, v in row.items()} for row in result]
                probs = np.array([[row[label] for label in self.labels] for row in rows])
            except KeyError as exc:
                raise ValueError(f"the model's output has no probability for {exc}") from exc
        else:
            probs = np.asarray(result)
        if probs.shape != (len(texts), len(self.labels)):
            raise ValueError(
                f"the model gave probabilities of shape {probs.shape} for {len(texts)} texts "
                f"and {len(self.labels)} labels"
            )
        return probs.astype(np.float64)


def sparse_rows(
    columns: list[int], indptr: list[int], values: npt.NDArray[np.float64] | None = None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """The distinct (row, column) entries of texts' column lists and their summed values.

    Text ``i`` has ``columns[indptr[i]:indptr[i + 1]]`` (a column once per occurrence); each
    occurrence counts 1, or ``values[k]`` for ``columns[k]``. Entries come sorted by row, then
    column, like a CSR matrix with its duplicates summed.
    """
    n = len(indptr) - 1
    cols = np.asarray(columns, dtype=np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(np.asarray(indptr)))
    width = int(cols.max()) + 1 if len(cols) else 1
    keys, inverse = np.unique(rows * width + cols, return_inverse=True)
    data = np.bincount(inverse, weights=values, minlength=len(keys)).astype(np.float64)
    return (keys // width).astype(np.intp), (keys % width).astype(np.intp), data


def sparse_product(
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    data: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    n: int,
) -> npt.NDArray[np.float64]:
    """``X @ weights`` for the sparse ``n``-row X of ``sparse_rows``: each row's terms summed
    in column order, as a CSR product does."""
    terms = data[:, None] * weights[cols]
    out: npt.NDArray[np.float64] = (
        np.stack(
            [np.bincount(rows, weights=terms[:, k], minlength=n) for k in range(weights.shape[1])],
            axis=1,
        )
        .reshape(n, weights.shape[1])
        .astype(np.float64, copy=False)
    )
    return out


class SparseLinearText:
    """``predict_proba`` of an ONNX word n-gram linear text classifier, as one sparse product.

    The graph ``train --out X.onnx`` writes is: a regex ``Tokenizer``, ``TfIdfVectorizer``
    (term counts of word 1-2-grams over a fixed vocabulary), an L2 ``Normalizer``, a softmax
    ``LinearClassifier`` and an L1 ``Normalizer``. onnxruntime's vectorizer writes a dense
    texts x vocabulary matrix and its normalizer walks all of it, which is most of the
    model's time although a text has a few dozen n-grams. Here each text's n-grams are looked up
    in the vocabulary, the counts normalised and the classes' weights applied to those columns
    only. ``from_onnx`` reads the graph's parameters, or gives None for any other graph; the
    loader keeps this only if it scores probe texts like onnxruntime (``PROBE_ATOL``).
    """

    def __init__(
        self,
        pattern: str,
        columns: dict[tuple[str, ...], int],
        coefficients: npt.NDArray[np.float64],
        intercepts: npt.NDArray[np.float64],
    ) -> None:
        self._words = re.compile(pattern)
        self._unigrams = {k[0]: j for k, j in columns.items() if len(k) == 1}
        self._bigrams = {k: j for k, j in columns.items() if len(k) == 2}
        self._width = coefficients.shape[1]
        self._weights = np.ascontiguousarray(coefficients.T)  # features x classes
        self._intercepts = intercepts
        self.vocabulary = [" ".join(k) for k in columns]

    @classmethod
    def from_onnx(cls, graph: Any) -> SparseLinearText | None:
        from onnx import helper

        nodes = list(graph.node)
        ops = [n.op_type for n in nodes]
        if ops != [
            "Tokenizer",
            "Flatten",
            "TfIdfVectorizer",
            "Normalizer",
            "LinearClassifier",
            "Normalizer",
        ]:
            return None
        for a, b in itertools.pairwise(nodes):
            if not set(a.output) & set(b.input):
                return None
        tok, _, tfidf, l2, linear, l1 = (
            {a.name: helper.get_attribute_value(a) for a in n.attribute} for n in nodes
        )
        pattern = tok.get("tokenexp")
        if (
            tok.get("mark", 0) != 0
            or tok.get("mincharnum", 1) > 1
            or not isinstance(pattern, bytes)
            or tok.get("separators")
        ):
            return None
        mode = tfidf.get("mode", b"")
        lo, hi = tfidf.get("min_gram_length"), tfidf.get("max_gram_length")
        counts = list(tfidf.get("ngram_counts", []))
        pool = [w.decode() for w in tfidf.get("pool_strings", [])]
        indexes = list(tfidf.get("ngram_indexes", []))
        if (
            mode != b"TF"
            or tfidf.get("max_skip_count", 0) != 0
            or (lo, hi) != (1, len(counts))
            or hi not in (1, 2)
            or counts[0] != 0
            or l2.get("norm") != b"L2"
            or l1.get("norm") != b"L1"
            or linear.get("post_transform") != b"SOFTMAX"
        ):
            return None
        bounds = [*counts, len(pool)]
        keys: list[tuple[str, ...]] = []
        for n, (start, end) in enumerate(itertools.pairwise(bounds), start=1):
            if (end - start) % n:
                return None
            keys += [tuple(pool[i : i + n]) for i in range(start, end, n)]
        if len(keys) != len(indexes):
            return None
        classes = linear.get("classlabels_strings") or linear.get("classlabels_ints") or []
        intercepts = np.asarray(linear.get("intercepts", []), dtype=np.float64)
        coefficients = np.asarray(linear.get("coefficients", []), dtype=np.float64)
        width = max(indexes) + 1 if indexes else 0
        if len(classes) < 2 or len(intercepts) != len(classes):
            return None
        if coefficients.size != len(classes) * width:
            return None
        return cls(
            pattern.decode(),
            dict(zip(keys, indexes, strict=True)),
            coefficients.reshape(len(classes), width),
            intercepts,
        )

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        if not texts:
            return np.zeros((0, len(self._intercepts)))
        findall, pairwise = self._words.findall, itertools.pairwise
        uni, bi = self._unigrams.get, self._bigrams.get
        bigrams = bool(self._bigrams)
        cols: list[int] = []
        indptr = [0]
        for text in texts:
            words = findall(text)
            cols += [j for w in words if (j := uni(w)) is not None]
            if bigrams and len(words) > 1:
                cols += [j for g in pairwise(words) if (j := bi(g)) is not None]
            indptr.append(len(cols))
        n = len(texts)
        rows, columns, counts = sparse_rows(cols, indptr)
        norms = np.sqrt(np.bincount(rows, weights=counts**2, minlength=n))
        norms[norms == 0] = 1.0
        z = sparse_product(rows, columns, counts, self._weights, n) / norms[:, None]
        z += self._intercepts
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs: npt.NDArray[np.float64] = z / z.sum(axis=1, keepdims=True)
        return probs


# How close the sparse product must score the probes to onnxruntime (which computes in float32).
PROBE_ATOL = 1e-5


def _probe_texts(vocabulary: list[str]) -> list[str]:
    """Texts that use every n-gram of the vocabulary, plus edge cases."""
    step = 40
    texts = [" ".join(vocabulary[i : i + step]) for i in range(0, len(vocabulary), step)]
    texts += [" ".join(vocabulary[i : i + 3]).upper() for i in range(0, len(vocabulary), 97)]
    return [
        *texts,
        "",
        "!!! ?? a",
        "x",
        "win win win a FREE prize, click here now: http://example.com/claim?id=1",
        "t\u00eate-\u00e0-t\u00eate caf\u00e9 \u0434\u0443\u0440\u0430\u043a snake_case 42 4u",
        "thanks for the recipe, it turned out great",
    ]


def _sparse_if_same(session_path: Path, estimator: OnnxEstimator) -> Estimator:
    """The sparse product of the graph when it scores the probes like onnxruntime."""
    import onnx

    sparse = SparseLinearText.from_onnx(onnx.load(str(session_path)).graph)
    if sparse is None:
        return estimator
    probes = _probe_texts(sparse.vocabulary)
    ours, theirs = sparse.predict_proba(probes), estimator.predict_proba(probes)
    if ours.shape == theirs.shape and np.allclose(ours, theirs, rtol=0, atol=PROBE_ATOL):
        return sparse
    return estimator


def _onnx_labels(path: Path, raw: str) -> tuple[str, ...]:
    try:
        labels = json.loads(raw)
    except ValueError as exc:
        raise ModelLoadError(f"{path}: metadata 'labels' is not JSON: {exc}") from exc
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(x, str) for x in labels)
        or len(set(labels)) != len(labels)
    ):
        raise ModelLoadError(
            f"{path}: metadata 'labels' must be a JSON list of two or more distinct strings"
        )
    return tuple(labels)


def _load_onnx(path: Path) -> TextModel:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Signals run one after the other in one worker thread; the model starts no threads of its own.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a readable model file: {exc}") from exc
    props: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
    for key in ONNX_REQUIRED_KEYS:
        if not props.get(key):
            raise ModelLoadError(
                f"{path}: ONNX metadata has no {key!r}; a {ONNX_FORMAT} model file carries "
                f"{', '.join(ONNX_REQUIRED_KEYS)}"
            )
    if props["tns_format"] != ONNX_FORMAT:
        raise ModelLoadError(
            f"{path}: metadata 'tns_format' is {props['tns_format']!r}, not {ONNX_FORMAT!r}"
        )
    labels = _onnx_labels(path, props["labels"])
    try:
        estimator = OnnxEstimator(session, labels)
        # One text through the graph now, so a model that cannot run stops start-up instead.
        estimator.predict_proba(["probe"])
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a usable text classifier: {exc}") from exc
    return TextModel(
        name=props["name"],
        version=props["version"],
        labels=labels,
        estimator=_sparse_if_same(path, estimator),
        path=path,
        metadata={**props, "format": ONNX_FORMAT, "labels": list(labels)},
    )


LOADERS: dict[str, Callable[[Path], TextModel]] = {
    ".joblib": _load_sklearn,
    ".pkl": _load_sklearn,
    ".onnx": _load_onnx,
}


def load_model(path: Path) -> TextModel:
    """Load a model file by path; raises ``ModelLoadError`` naming what is wrong."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise ModelLoadError(f"{path}: unsupported model file type {path.suffix!r}")
    return loader(path)
