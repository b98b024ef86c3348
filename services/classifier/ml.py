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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import joblib
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
        self._labels = labels

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        if not texts:
            return np.zeros((0, len(self._labels)))
        feed = np.array(list(texts), dtype=object)
        if self._column:
            feed = feed.reshape(-1, 1)
        (result,) = self._session.run([self._output], {self._input: feed})
        if self._zipmap:
            try:
                rows = [{str(k): v for k, v in row.items()} for row in result]
                probs = np.array([[row[label] for label in self._labels] for row in rows])
            except KeyError as exc:
                raise ValueError(f"the model's output has no probability for {exc}") from exc
        else:
            probs = np.asarray(result)
        if probs.shape != (len(texts), len(self._labels)):
            raise ValueError(
                f"the model gave probabilities of shape {probs.shape} for {len(texts)} texts "
                f"and {len(self._labels)} labels"
            )
        return probs.astype(np.float64)


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
        estimator=estimator,
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
