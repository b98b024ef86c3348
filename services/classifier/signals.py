"""Signals: each scores a batch of reports and says which policy areas it found evidence for.

A signal has a name and a version (recorded on every ``ReportClassified``) and works on whole
batches, because the models are vectorised and per-report calls would waste most of their time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea


class Signal(Protocol):
    name: str
    version: str

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        """One list of results per report, in order; an empty list when nothing fired."""
        ...


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    policy_area: PolicyArea
    weight: float = Field(gt=0, le=1)
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    shadow: bool = False

    @model_validator(mode="after")
    def _has_matchers(self) -> RuleSpec:
        if not self.keywords and not self.patterns:
            raise ValueError(f"rule {self.id} has neither keywords nor patterns")
        for p in self.patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"rule {self.id}: bad pattern {p!r}: {exc}") from exc
        return self


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    rules: list[RuleSpec]

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleFile:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    spec: RuleSpec
    regex: re.Pattern[str]


def load_rule_file(path: Path) -> RuleFile:
    """Read and validate a rules file; raises ``ValueError`` naming what is wrong."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return RuleFile.model_validate(data)


class RuleSignal:
    """Keyword and pattern rules from a data file, matched on the folded text."""

    name = "rules"

    def __init__(self, rule_file: RuleFile) -> None:
        self.version = rule_file.version
        self._rules = []
        for spec in rule_file.rules:
            parts = [r"\b" + re.escape(k.casefold()) + r"\b" for k in spec.keywords]
            parts += spec.patterns
            self._rules.append(_CompiledRule(spec, re.compile("|".join(f"(?:{p})" for p in parts))))

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = []
        for report in reports:
            text = report.folded_text
            results = []
            if text:
                for rule in self._rules:
                    m = rule.regex.search(text)
                    if m is not None:
                        results.append(
                            SignalResult(
                                name=f"rule:{rule.spec.id}"
                                + (":shadow" if rule.spec.shadow else ""),
                                version=self.version,
                                policy_area=rule.spec.policy_area,
                                score=0.0 if rule.spec.shadow else rule.spec.weight,
                                detail=f"matched {m.group(0)[:80]!r}",
                            )
                        )
            out.append(results)
        return out


class ProfanitySignal:
    """The abusive-language model shipped inside ``alt-profanity-check`` (a calibrated SVM)."""

    name = "model:profanity"

    def __init__(self, threshold: float) -> None:
        from importlib.metadata import version

        import profanity_check

        self._predict = profanity_check.predict_prob
        self.version = f"alt-profanity-check-{version('alt-profanity-check')}"
        self.threshold = threshold

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = [[] for _ in reports]
        indexed = [(i, r.normalised_text) for i, r in enumerate(reports) if r.normalised_text]
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
                        detail="abusive language",
                    )
                )
        return out
