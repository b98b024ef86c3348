"""Scores: context modulation, reputation, calibration."""

from __future__ import annotations

from datetime import UTC, datetime

from services.classifier.calibration import Calibration, Platt
from services.classifier.context import reputation
from services.classifier.scoring import combine, context_multiplier
from shared.events import ActionType, PriorAction, ReportContext, SignalResult
from shared.taxonomy import PolicyArea
from tests.factories import make_report

H = PolicyArea.HARASSMENT


def _rule(score: float = 1.0, weight: float = 0.5, area: PolicyArea = H) -> SignalResult:
    return SignalResult(name="rule:x", version="1", policy_area=area, score=score, weight=weight)


def test_reputation_starts_neutral_and_moves_with_outcomes() -> None:
    assert reputation(0, 0, 2, 2) == 0.5
    assert reputation(10, 9, 2, 2) > 0.75
    assert reputation(10, 0, 2, 2) < 0.2
    assert 0.5 < reputation(1, 1, 2, 2) < 0.65  # one notice moves it a little


def test_neutral_context_changes_nothing() -> None:
    assert context_multiplier(ReportContext(), H, H) == 1.0


def test_good_reporters_velocity_and_history_raise_the_score() -> None:
    report = make_report("x")
    base = combine(report, [_rule()], {}, [])
    ctx = ReportContext(
        reporter_reputation=0.8,
        reporter_notices=20,
        trusted_flagger=True,
        distinct_reporters=5,
        prior_actions=[
            PriorAction(
                action=ActionType.REMOVE_CONTENT, policy_area=H, decided_at=datetime.now(UTC)
            )
        ],
    )
    raised = combine(report, [_rule()], {}, [], context=ctx)
    assert raised.scores[H] > base.scores[H]
    explained = [s for s in raised.signals if s.name == "context"]
    assert explained and explained[0].weight > 1 and "trusted flagger" in explained[0].detail
    assert raised.context == ctx


def test_a_poor_reporter_lowers_the_score() -> None:
    report = make_report("x")
    low = combine(report, [_rule()], {}, [], context=ReportContext(reporter_reputation=0.1))
    assert low.scores[H] < combine(report, [_rule()], {}, []).scores[H]


def test_context_alone_never_makes_a_score() -> None:
    ctx = ReportContext(reporter_reputation=0.95, trusted_flagger=True, distinct_reporters=50)
    c = combine(make_report("x"), [], {}, [], context=ctx)
    assert c.scores == {H: 0.0}


def test_shadow_results_do_not_count() -> None:
    shadow = SignalResult(
        name="rule:s", version="1", policy_area=H, score=1.0, weight=0.9, shadow=True
    )
    c = combine(make_report("x"), [shadow], {}, [])
    assert c.scores[H] == 0.0 and c.signals == [shadow]


def test_noisy_or_of_score_times_weight() -> None:
    c = combine(make_report("x"), [_rule(1.0, 0.5), _rule(0.8, 0.5)], {}, [])
    assert c.scores[H] == round(1 - 0.5 * 0.6, 4)


def test_calibration_is_applied_per_area_and_keeps_the_order() -> None:
    cal = Calibration("cal-t", {H: Platt(2.0, -1.0)})
    lo = combine(make_report("x"), [_rule(1.0, 0.4)], {}, [], calibration=cal).scores[H]
    hi = combine(make_report("x"), [_rule(1.0, 0.8)], {}, [], calibration=cal).scores[H]
    assert 0 < lo < hi < 1
    c = combine(make_report("x"), [_rule(1.0, 0.5, PolicyArea.SPAM)], {}, [], calibration=cal)
    assert c.scores[PolicyArea.SPAM] == 0.5  # no curve for spam: the raw score
    assert c.versions["calibration"] == "cal-t"
