"""Keyword and pattern rules per policy area, from a data file, on normalised and folded text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea
from shared.text import fold

RESULT_CACHE_SIZE = 10_000


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


def load_rule_file(path: Path) -> RuleFile:
    """Read and validate a rules file; raises ``ValueError`` naming what is wrong."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return RuleFile.model_validate(data)


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    spec: RuleSpec
    regex: re.Pattern[str]


class RuleSignal:
    """Rules matched on the case-folded normalised text and on the folded text.

    Keywords are folded like the text, so a rule written "idiot" also catches "1d10t" and the
    spelling with a Cyrillic i; the normalised text keeps digits that folding would turn into
    letters (a rule on "2x" must see "2x"). A shadow rule is scored and recorded with
    ``shadow=True`` and does not count, so a new rule can be watched on live traffic first.
    """

    name = "rules"

    def __init__(self, rule_file: RuleFile) -> None:
        self.version = rule_file.version
        self._rules: list[_CompiledRule] = []
        for spec in rule_file.rules:
            words = {k.casefold() for k in spec.keywords} | {fold(k) for k in spec.keywords}
            parts = [r"\b" + re.escape(k) + r"\b" for k in sorted(words) if k]
            parts += spec.patterns
            regex = re.compile("|".join(f"(?:{p})" for p in parts))
            self._rules.append(_CompiledRule(spec, regex))
        # Every rule in one alternation: most texts match no rule at all, and one search of
        # the combined pattern settles that for far less than one search per rule. A text it
        # matches is then searched rule by rule (matches of different rules may overlap).
        self._any = re.compile("|".join(f"(?:{r.regex.pattern})" for r in self._rules))
        # The same few words match again and again: results are frozen, so one per rule and
        # matched text is shared (a plain dict, emptied when full).
        self._results: dict[tuple[str, str], SignalResult] = {}

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = []
        for report in reports:
            folded = report.folded_text
            plain = report.normalised_text.casefold()
            texts = (folded,) if plain == folded else (folded, plain)
            results: list[SignalResult] = []
            if any(self._any.search(text) is not None for text in texts):
                for rule in self._rules:
                    for text in texts:
                        m = rule.regex.search(text)
                        if m is not None:
                            results.append(self._result(rule.spec, m.group(0)))
                            break
            out.append(results)
        return out

    def _result(self, spec: RuleSpec, matched: str) -> SignalResult:
        key = (spec.id, matched)
        result = self._results.get(key)
        if result is None:
            if len(self._results) >= RESULT_CACHE_SIZE:
                self._results.clear()
            result = self._results[key] = self._new_result(spec, matched)
        return result

    def _new_result(self, spec: RuleSpec, matched: str) -> SignalResult:
        # The spec was validated when the file was loaded: no need to validate each result.
        return SignalResult.unchecked(
            name=f"rule:{spec.id}",
            version=self.version,
            policy_area=spec.policy_area,
            score=1.0,
            weight=spec.weight,
            shadow=spec.shadow,
            detail=f"matched {matched[:80]!r}" + (" (shadow rule)" if spec.shadow else ""),
        )
