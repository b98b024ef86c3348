"""Per-area calibration of raw scores (Platt scaling), fitted on the project's labelled data.

A raw score is the noisy-OR of the signals; it ranks reports well but is not a probability.
Platt scaling maps it through ``sigmoid(a * logit(raw) + b)`` per policy area, with ``a`` and
``b`` fitted so that, on the calibration data, a 0.9 means about nine in ten are violations.
Areas without enough labelled examples keep their raw score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from shared.taxonomy import PolicyArea

EPS = 1e-4


def logit(p: float) -> float:
    p = min(max(p, EPS), 1 - EPS)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    z = math.exp(x)
    return z / (1 + z)


@dataclass(frozen=True, slots=True)
class Platt:
    a: float
    b: float

    def __call__(self, raw: float) -> float:
        if raw <= 0:
            return 0.0
        return sigmoid(self.a * logit(raw) + self.b)


@dataclass(frozen=True)
class Calibration:
    version: str = "uncalibrated"
    areas: dict[PolicyArea, Platt] = field(default_factory=dict)
    fitted_on: dict[str, str] = field(default_factory=dict)

    def apply(self, area: PolicyArea, raw: float) -> float:
        curve = self.areas.get(area)
        return raw if curve is None else curve(raw)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "fitted_on": self.fitted_on,
                "areas": {a.value: {"a": p.a, "b": p.b} for a, p in sorted(self.areas.items())},
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path | None) -> Calibration:
        """The calibration in ``path``; no path gives raw scores (``uncalibrated``)."""
        if path is None:
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        areas = {
            PolicyArea(k): Platt(float(v["a"]), float(v["b"])) for k, v in data["areas"].items()
        }
        return cls(str(data["version"]), areas, dict(data.get("fitted_on", {})))
