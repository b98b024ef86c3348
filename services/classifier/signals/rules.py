"""Keyword and pattern rules per policy area, from a data file, on normalised and folded text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea
from shared.text import fold

RESULT_CACHE_SIZE = 10_000
# Python constructs that RE2 parses differently (``\d`` and ``\s`` are ASCII-only there,
# ``[:alpha:]`` is a class, ``{,n}`` a literal): a pattern holding one is never prefiltered.
_UNFILTERABLE = (r"\d", r"\s", "[:", "{,")


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


class _Prefilter:
    """Which rules can match a text, from the literal strings each rule's pattern requires.

    RE2's ``FilteredRE2`` reduces every pattern to the literals any match must contain (an
    "idiot" or a "moron" keyword rule; a threat pattern needs "kill" or "hurt" or ...) and
    finds them all in one pass over the text. Only the rules it names are then searched with
    Python's ``re``, so matches and their text are exactly those of ``re``: the prefilter only
    skips rules that cannot match. A pattern RE2 cannot parse, or parses differently from
    ``re`` (see ``_UNFILTERABLE``), is searched on every text.
    """

    def __init__(self, patterns: list[str]) -> None:
        options = re2.Options()
        options.log_errors = False
        self._filter: re2.Filter | None = re2.Filter()
        self._rule_of: list[int] = []  # filter index -> rule index
        self.always: list[int] = []
        for i, pattern in enumerate(patterns):
            if any(s in pattern for s in _UNFILTERABLE):
                self.always.append(i)
                continue
            try:
                self._filter.Add(pattern, options)
            except re2.error:
                self.always.append(i)
                continue
            self._rule_of.append(i)
        if self._rule_of:
            self._filter.Compile()
        else:
            self._filter = None

    def candidates(self, text: str) -> list[int]:
        """Indices of the filtered rules that may match ``text`` (``always`` not included)."""
        if self._filter is None:
            return []
        # Bytes, because a lone surrogate cannot be encoded strictly; it matches no literal.
        found = self._filter.Match(text.encode("utf-8", "surrogatepass"), potential=True)
        return [self._rule_of[i] for i in found] if found else []


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
        # Most texts match no rule: the prefilter settles that, and names the few rules worth
        # searching on the others, in one pass over the text.
        self._prefilter = _Prefilter([r.regex.pattern for r in self._rules])
        # The same few words match again and again: results are frozen, so one per rule and
        # matched text is shared (a plain dict, emptied when full).
        self._results: dict[tuple[str, str], SignalResult] = {}

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        out: list[list[SignalResult]] = []
        prefilter, rules, always = self._prefilter, self._rules, self._prefilter.always
        for report in reports:
            folded = report.folded_text
            plain = report.normalised_text.casefold()
            texts = (folded,) if plain == folded else (folded, plain)
            found = prefilter.candidates(folded)
            if len(texts) == 2:
                found += prefilter.candidates(plain)
            if always:
                found += always
            results: list[SignalResult] = []
            if found:
                # In file order, each rule once: the order results are recorded in.
                for i in sorted(set(found)) if len(found) > 1 else found:
                    rule = rules[i]
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
