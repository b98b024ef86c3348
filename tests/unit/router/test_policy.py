from pathlib import Path

import pytest

from services.router.policy import load_policy, route
from services.router.settings import DEFAULT_POLICY
from shared.events import ActionType, Source
from shared.taxonomy import PolicyArea
from tests.factories import make_classified, make_report

POLICY = load_policy(DEFAULT_POLICY)


def _route(area: PolicyArea, score: float, source: Source = Source.USER_NOTICE, reported=None):  # type: ignore[no-untyped-def]
    report = make_report(policy_area=reported or area, source=source)
    c = make_classified(report, {area: score}).payload.classification
    return route(POLICY, report, c)


def test_high_harassment_score_is_actioned_automatically() -> None:
    r = _route(PolicyArea.HARASSMENT, 0.97)
    assert r.kind == "action"
    assert r.action is ActionType.REMOVE_CONTENT


def test_low_score_is_dismissed() -> None:
    assert _route(PolicyArea.HARASSMENT, 0.05).kind == "dismiss"


def test_score_between_thresholds_goes_to_the_area_queue_with_a_deadline() -> None:
    r = _route(PolicyArea.SPAM, 0.5)
    assert (r.kind, r.queue) == ("review", "spam")
    assert r.deadline is not None


@pytest.mark.parametrize("score", [0.0, 0.5, 1.0])
def test_child_safety_is_never_settled_without_a_human(score: float) -> None:
    r = _route(PolicyArea.CHILD_SAFETY, score)
    assert (r.kind, r.queue) == ("review", "child-safety")


def test_child_safety_report_keeps_its_area_even_when_models_see_spam() -> None:
    r = _route(PolicyArea.SPAM, 0.99, reported=PolicyArea.CHILD_SAFETY)
    assert (r.kind, r.policy_area) == ("review", PolicyArea.CHILD_SAFETY)


def test_trusted_flagger_notice_is_reviewed_and_ranked_above_an_ordinary_one() -> None:
    flagged = _route(PolicyArea.HARASSMENT, 0.99, source=Source.TRUSTED_FLAGGER)
    ordinary = _route(PolicyArea.HARASSMENT, 0.6)
    assert flagged.kind == "review"
    assert flagged.priority > ordinary.priority


def test_policy_with_dismiss_above_action_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: x\ndefaults: {auto_action_at: 0.5, dismiss_below: 0.9, queue: q, "
        "action: remove_content}\n"
    )
    with pytest.raises(ValueError, match="dismiss_below"):
        load_policy(bad)
