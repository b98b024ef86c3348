"""Combines signal results into one score per policy area. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from shared.events import Classification, Report, SignalResult
from shared.taxonomy import PolicyArea


def combine(
    report: Report,
    results: list[SignalResult],
    versions: Mapping[str, str],
    missing: list[str],
) -> Classification:
    """Noisy-OR per policy area: independent pieces of evidence each lower the chance of none.

    The reported area always has a score, so the router can settle it (often as a dismissal).
    """
    remaining: dict[PolicyArea, float] = {report.policy_area: 1.0}
    for r in results:
        remaining[r.policy_area] = remaining.get(r.policy_area, 1.0) * (1.0 - r.score)
    scores = {area: round(1.0 - rest, 4) for area, rest in remaining.items()}
    top_area, top_score = max(scores.items(), key=lambda kv: (kv[1], kv[0] == report.policy_area))
    return Classification(
        scores=scores,
        top_policy_area=top_area,
        top_score=top_score,
        signals=results,
        versions=dict(versions),
        missing_signals=missing,
    )
