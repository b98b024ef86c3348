"""Loading text-classification model files by path, each with its name, version and labels.

Supported: scikit-learn pipelines saved by ``python -m services.classifier train`` (joblib files
holding the pipeline with its metadata). A loader is chosen by the file suffix, so another format
is one more entry in ``LOADERS``. ONNX files are recognised and refused with the reason:
``onnxruntime`` is not installed in this image.

Model files are code (joblib unpickles): load only files shipped in the package or trained by
this project, never files received from outside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import numpy.typing as npt

MODEL_FORMAT = "tns-sklearn-text-v1"


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


def _refuse_onnx(path: Path) -> TextModel:
    raise ModelLoadError(
        f"{path}: ONNX model files need onnxruntime, which is not installed; "
        "export the model as a scikit-learn pipeline with the train command instead"
    )


LOADERS: dict[str, Callable[[Path], TextModel]] = {
    ".joblib": _load_sklearn,
    ".pkl": _load_sklearn,
    ".onnx": _refuse_onnx,
}


def load_model(path: Path) -> TextModel:
    """Load a model file by path; raises ``ModelLoadError`` naming what is wrong."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise ModelLoadError(f"{path}: unsupported model file type {path.suffix!r}")
    return loader(path)
