"""Keyword and pattern rules per policy area, from a data file, on normalised and folded text."""

from __future__ import annotations

import logging
import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea
from shared.text import fold

logger = logging.getLogger(__name__)

RESULT_CACHE_SIZE = 10_000
# Any one character, line breaks included.
_ANY = "(?s:.)"
# RE2's largest counted repetition.
_RE2_MAX_REPEAT = 1000


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


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _charset(items: Iterable[tuple[Any, Any]]) -> str:
    """A class of the listed characters and ranges; any character for anything else (negated
    sets and ``\\w``-like categories, whose extent differs between the engines)."""
    parts = []
    for op, av in items:
        if op is sre.LITERAL:
            parts.append(_char(av))
        elif op is sre.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        else:
            return _ANY
    return "[" + "".join(parts) + "]"


def _emit(items: Iterable[tuple[Any, Any]]) -> str | None:
    out: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(_char(av))
        elif op is sre.NOT_LITERAL or op is sre.ANY:
            out.append(_ANY)
        elif op is sre.IN:
            out.append(_charset(av))
        elif op is sre.AT:
            continue  # anchors and word boundaries: dropping them only widens the match
        elif op is sre.BRANCH:
            alternatives = [_emit(branch) for branch in av[1]]
            if any(a is None for a in alternatives):
                return None
            out.append("(?:" + "|".join(a for a in alternatives if a is not None) + ")")
        elif op is sre.SUBPATTERN:
            _, add_flags, del_flags, sub = av
            inner = None if add_flags or del_flags else _emit(sub)
            if inner is None:
                return None
            out.append(f"(?:{inner})")
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            inner = _emit(sub)
            if inner is None:
                return None
            if low > _RE2_MAX_REPEAT:
                count = "*"
            elif high > _RE2_MAX_REPEAT:
                count = f"{{{low},}}"
            else:
                count = f"{{{low},{high}}}"
            out.append(f"(?:{inner}){count}")
        else:
            return None  # back-references, look-arounds, conditionals, atomic groups
    return "".join(out)


def superset_pattern(pattern: str) -> str | None:
    """An RE2 pattern that matches wherever Python's ``re`` finds ``pattern`` (and maybe more),
    written from ``re``'s own parse of it: literal characters and explicit classes are kept,
    anchors and word boundaries dropped, any other class widened to any character. None when a
    construct cannot be carried over that way (back-references, look-arounds, case-insensitive
    matching, whose case folding differs between the engines)."""
    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None
    if tree.state.flags & re.IGNORECASE:
        return None
    return _emit(tree)


class _Prefilter:
    """Which rules can match a text, from the literal strings each rule's pattern requires.

    RE2's ``FilteredRE2`` reduces every pattern to the literals any match must contain (an
    "idiot" or a "moron" keyword rule; a threat pattern needs "kill" or "hurt" or ...) and
    finds them all in one pass over the text. It is given not the rule's pattern, which RE2
    would read with its own syntax, but ``superset_pattern`` of it, written from Python's parse
    and matching at least what ``re`` matches. Only the rules it names are then searched with
    ``re``, so matches and their text are exactly those of ``re``: the prefilter only skips
    rules that cannot match. A pattern without a superset, or one RE2 refuses, is searched on
    every text; so is every pattern if the filter as a whole cannot be built (RE2's memory
    limit, with tens of thousands of keywords).
    """

    def __init__(self, patterns: list[str]) -> None:
        options = re2.Options()
        options.log_errors = False
        prefilter = re2.Filter()
        self._rule_of: list[int] = []  # filter index -> rule index
        self.always: list[int] = []
        for i, pattern in enumerate(patterns):
            superset = superset_pattern(pattern)
            if superset is not None:
                try:
                    prefilter.Add(superset, options)
                    self._rule_of.append(i)
                    continue
                except re2.error:
                    pass
            self.always.append(i)
        self._filter: re2.Filter | None = None
        if self._rule_of:
            try:
                prefilter.Compile()
                self._filter = prefilter
            except re2.error:
                logger.warning(
                    "the rules' prefilter cannot be built; all %d rules are searched on every text",
                    len(patterns),
                )
                self._rule_of, self.always = [], list(range(len(patterns)))

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
