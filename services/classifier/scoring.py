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


def combine(
    report: Report,
    results: list[SignalResult],
    versions: Mapping[str, str],
    missing: list[str],
    *,
    context: ReportContext | None = None,
    calibration: Calibration | None = None,
) -> Classification:
    """One report's classification.

    The parts are built with ``model_construct``: every value here is already typed and in
    range (signal results, areas, rounded scores in [0, 1]), so validating each again would
    cost more than all the arithmetic; the output still matches the contract (unit tests
    validate it).
    """
    context = context or NEUTRAL_CONTEXT
    calibration = calibration or Calibration()
    remaining: dict[PolicyArea, float] = {report.policy_area: 1.0}
    floors: dict[PolicyArea, float] = {}
    bank: str | None = None
    for r in results:
        if r.shadow:
            continue
        remaining[r.policy_area] = remaining.get(r.policy_area, 1.0) * (
            1.0 - min(r.score * r.weight, 1.0)
        )
        if (matched := bank_of(r)) is not None:
            floors[r.policy_area] = HASH_MATCH_FLOOR
            if bank is None or r.policy_area is PolicyArea.CHILD_SAFETY:
                bank = matched
    signals = list(results)
    scores: dict[PolicyArea, float] = {}
    for area, rest in remaining.items():
        raw = 1.0 - rest
        if raw > 0:
            m = context_multiplier(context, area, report.policy_area)
            if m != 1.0:
                raw = sigmoid(logit(raw) + math.log(m))
                signals.append(
                    SignalResult.unchecked(
                        name="context",
                        version=CONTEXT_VERSION,
                        policy_area=area,
                        score=0.0,
                        weight=round(m, 4),
                        detail=f"odds x{m:.2f}: {_describe(context)}",
                        shadow=False,
                    )
                )
        score = max(calibration.apply(area, raw), floors.get(area, 0.0))
        scores[area] = round(min(max(score, 0.0), 1.0), 4)
    if PolicyArea.CHILD_SAFETY in floors:
        scores[PolicyArea.CHILD_SAFETY] = max(
            scores[PolicyArea.CHILD_SAFETY], CHILD_SAFETY_MATCH_SCORE
        )
        top_area, top_score = PolicyArea.CHILD_SAFETY, scores[PolicyArea.CHILD_SAFETY]
    elif len(scores) == 1:
        ((top_area, top_score),) = scores.items()
    else:
        top_area, top_score = max(
            scores.items(), key=lambda kv: (kv[1], kv[0] == report.policy_area)
        )
    return Classification.unchecked(
        scores=scores,
        top_policy_area=top_area,
        top_score=top_score,
        signals=signals,
        versions={**versions, "context": CONTEXT_VERSION, "calibration": calibration.version},
        missing_signals=missing,
        context=context,
        hash_match_bank=bank,
    )
