"""Combines signal results and context into one calibrated score per policy area. Pure.

1. Raw score per area: noisy-OR of the counted results, each contributing ``score * weight``
   (independent pieces of evidence each lower the chance that none is right). Shadow results
   are recorded but not counted.
2. Context multiplies the odds of areas that already have evidence, never of others, so
   context alone cannot make a report look violating (see ``context_multiplier``).
3. Calibration maps the raw score to a probability per area.
4. A hash-bank match floors its area at ``HASH_MATCH_FLOOR``; a child-safety match makes child
   safety the top area at ``CHILD_SAFETY_MATCH_SCORE`` so it always goes to a human.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from services.classifier.calibration import Calibration, logit, sigmoid
from services.classifier.signals.hashes import bank_of
from shared.events import Classification, Report, ReportContext, SignalResult
from shared.taxonomy import PolicyArea

CONTEXT_VERSION = "context-1"
HASH_MATCH_FLOOR = 0.95
CHILD_SAFETY_MATCH_SCORE = 0.99
MULTIPLIER_RANGE = (0.25, 4.0)
# Shared by every report scored without context (the model is frozen).
NEUTRAL_CONTEXT = ReportContext()


def context_multiplier(context: ReportContext, area: PolicyArea, reported: PolicyArea) -> float:
    """The odds multiplier context applies to ``area`` (1.0 is no change).

    - reputation r: ``sqrt(r / (1 - r))``, bounded to [0.5, 2]; a neutral reporter gives 1;
    - trusted flagger, on the area they reported: x2;
    - report velocity, d distinct reporters in the window: ``1 + 0.25 * min(d - 1, 8)``;
    - prior actions on the subject or its owner: x1.5 each in the same area (at most two),
      x1.1 once for any other area;
    the product bounded to ``MULTIPLIER_RANGE``.
    """
    # Each factor is skipped when it is 1 (most reports: a new reporter, no history).
    r = context.reporter_reputation
    m = 1.0 if r == 0.5 else min(max((r / (1 - r)) ** 0.5 if r < 1 else 2.0, 0.5), 2.0)
    if context.trusted_flagger and area == reported:
        m *= 2.0
    if context.distinct_reporters > 1:
        m *= 1 + 0.25 * min(context.distinct_reporters - 1, 8)
    if prior := context.prior_actions:
        same = sum(1 for p in prior if p.policy_area == area)
        m *= 1.5 ** min(same, 2)
        if len(prior) > same:
            m *= 1.1
    lo, hi = MULTIPLIER_RANGE
    return min(max(m, lo), hi)


def _describe(context: ReportContext) -> str:
    parts = [f"reputation {context.reporter_reputation:.2f} over {context.reporter_notices}"]
    if context.trusted_flagger:
        parts.append("trusted flagger")
    parts.append(f"{context.distinct_reporters} distinct reporter(s)")
    parts.append(f"{len(context.prior_actions)} prior action(s)")
    return ", ".join(parts)


def _is_neutral(context: ReportContext) -> bool:
    """True when context multiplies no area's odds (a new reporter, no history)."""
    return (
        context.reporter_reputation == 0.5
        and not context.trusted_flagger
        and context.distinct_reporters <= 1
        and not context.prior_actions
    )


class Scorer:
    """Scores reports against one calibration and one set of versions.

    The versions dict every classification carries is built once, not per report, and shared
    by the classifications (the models are frozen and serialised, never changed). The parts
    are built with ``unchecked``: every value here is already typed and in range (signal
    results, areas, rounded scores in [0, 1]), so validating each again would cost more than
    all the arithmetic; the output still matches the contract (unit tests validate it).
    """

    def __init__(self, versions: Mapping[str, str], calibration: Calibration | None = None) -> None:
        self.calibration = calibration or Calibration()
        self.versions = {
            **versions,
            "context": CONTEXT_VERSION,
            "calibration": self.calibration.version,
        }
        self._curves = self.calibration.areas
        # Contexts are shared between the reports of a batch (see ``load_context``), and so
        # is the result recording what each applied to an area. Keyed by the context's id: the
        # batch holds the contexts for as long as this scorer lives.
        self._context_results: dict[
            tuple[int, PolicyArea, PolicyArea], tuple[float, SignalResult | None]
        ] = {}

    @staticmethod
    def _context_result(
        context: ReportContext, area: PolicyArea, reported: PolicyArea
    ) -> tuple[float, SignalResult | None]:
        m = context_multiplier(context, area, reported)
        if m == 1.0:
            return m, None
        return m, SignalResult.unchecked(
            name="context",
            version=CONTEXT_VERSION,
            policy_area=area,
            score=0.0,
            weight=round(m, 4),
            detail=f"odds x{m:.2f}: {_describe(context)}",
            shadow=False,
        )

    def __call__(
        self,
        report: Report,
        results: list[SignalResult],
        missing: list[str],
        context: ReportContext | None = None,
    ) -> Classification:
        """One report's classification; ``results`` is not changed."""
        context = context or NEUTRAL_CONTEXT
        reported = report.policy_area
        remaining: dict[PolicyArea, float] = {reported: 1.0}
        floors: dict[PolicyArea, float] | None = None
        bank: str | None = None
        for r in results:
            if r.shadow:
                continue
            area = r.policy_area
            remaining[area] = remaining.get(area, 1.0) * (1.0 - min(r.score * r.weight, 1.0))
            if (matched := bank_of(r)) is not None:
                floors = floors or {}
                floors[area] = HASH_MATCH_FLOOR
                if bank is None or area is PolicyArea.CHILD_SAFETY:
                    bank = matched
        signals = list(results)
        neutral = context is NEUTRAL_CONTEXT or _is_neutral(context)
        curves = self._curves
        scores: dict[PolicyArea, float] = {}
        for area, rest in remaining.items():
            raw = 1.0 - rest
            if raw > 0 and not neutral:
                key = (id(context), area, reported)
                found = self._context_results.get(key)
                if found is None:
                    found = self._context_results[key] = self._context_result(
                        context, area, reported
                    )
                m, result = found
                if result is not None:
                    raw = sigmoid(logit(raw) + math.log(m))
                    signals.append(result)
            curve = curves.get(area)
            score = raw if curve is None else curve(raw)
            if floors is not None:
                score = max(score, floors.get(area, 0.0))
            scores[area] = round(min(max(score, 0.0), 1.0), 4)
        if floors is not None and PolicyArea.CHILD_SAFETY in floors:
            scores[PolicyArea.CHILD_SAFETY] = max(
                scores[PolicyArea.CHILD_SAFETY], CHILD_SAFETY_MATCH_SCORE
            )
            top_area, top_score = PolicyArea.CHILD_SAFETY, scores[PolicyArea.CHILD_SAFETY]
        else:
            # The highest score; ties go to the reported area (it comes first in ``scores``).
            top_area, top_score = reported, scores[reported]
            for area, score in scores.items():
                if score > top_score:
                    top_area, top_score = area, score
        return Classification.unchecked(
            scores=scores,
            top_policy_area=top_area,
            top_score=top_score,
            signals=signals,
            versions=self.versions,
            missing_signals=missing,
            context=context,
            hash_match_bank=bank,
        )


def combine(
    report: Report,
    results: list[SignalResult],
    versions: Mapping[str, str],
    missing: list[str],
    *,
    context: ReportContext | None = None,
    calibration: Calibration | None = None,
) -> Classification:
    """One report's classification (see ``Scorer``, which scores whole batches)."""
    return Scorer(versions, calibration)(report, results, list(missing), context)
