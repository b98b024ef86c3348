from datetime import timedelta
from pathlib import Path

import pytest

from services.router.policy import Policy, Route, load_policy, priority, route, sampled
from services.router.settings import DEFAULT_POLICY
from shared.events import ActionType, Source, SourceKind
from shared.taxonomy import PolicyArea, Tier
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


def test_terrorist_removal_order_gets_the_one_hour_legal_clock() -> None:
    report = make_report(policy_area=PolicyArea.VIOLENT_EXTREMISM, source=Source.AUTHORITY_ORDER)
    c = make_classified(report, {PolicyArea.VIOLENT_EXTREMISM: 0.99}).payload.classification
    r = route(POLICY, report, c)
    assert r.kind == "review"
    assert r.legal_clock == "terrorist-content-removal-order"
    assert r.deadline == report.received_at + timedelta(hours=1)


def test_trusted_flagger_notice_is_due_sooner_than_an_ordinary_one() -> None:
    flagged = _route(PolicyArea.HARASSMENT, 0.6, source=Source.TRUSTED_FLAGGER)
    ordinary = _route(PolicyArea.HARASSMENT, 0.6)
    assert flagged.deadline < ordinary.deadline


def test_priority_grows_with_severity_source_and_reach() -> None:
    assert priority(Tier.S1, Source.USER_NOTICE, 0.5) > priority(Tier.S2, Source.USER_NOTICE, 0.5)
    assert priority(Tier.S2, Source.TRUSTED_FLAGGER, 0.5) > priority(
        Tier.S2, Source.USER_NOTICE, 0.5
    )
    assert priority(Tier.S2, Source.USER_NOTICE, 0.5) > priority(
        Tier.S2, Source.AUTOMATED_DETECTION, 0.5
    )
    assert priority(Tier.S2, Source.USER_NOTICE, 0.5, reach=1_000_000) > priority(
        Tier.S2, Source.USER_NOTICE, 0.5, reach=10
    )


def test_area_rule_overrides_its_tier_which_overrides_the_defaults() -> None:
    policy = Policy.model_validate(
        {
            "version": "t",
            "defaults": {"auto_action_at": 0.9, "queue": "general", "action": "remove_content"},
            "tiers": {"S2": {"auto_action_at": 0.8, "sla_minutes": 30}},
            "areas": {"harassment": {"auto_action_at": None}},
        }
    )
    harassment = policy.rule_for(PolicyArea.HARASSMENT)  # tier S2
    assert (harassment.auto_action_at, harassment.sla_minutes) == (None, 30)
    assert policy.rule_for(PolicyArea.SCAMS_FRAUD).auto_action_at == 0.8  # S2, no area rule
    assert policy.rule_for(PolicyArea.SPAM).auto_action_at == 0.9  # S3: defaults


def test_four_eyes_covers_terminations_and_s0_only() -> None:
    rule = POLICY.four_eyes
    assert rule.required(Tier.S2, PolicyArea.HARASSMENT, ActionType.TERMINATE_ACCOUNT)
    assert rule.required(Tier.S0, PolicyArea.CHILD_SAFETY, ActionType.REMOVE_CONTENT)
    assert not rule.required(Tier.S2, PolicyArea.HARASSMENT, ActionType.REMOVE_CONTENT)


def test_sampling_is_deterministic_and_near_its_share() -> None:
    picked = [sampled(0.1, "qa", i) for i in range(5000)]
    assert picked == [sampled(0.1, "qa", i) for i in range(5000)]
    assert 400 < sum(picked) < 600
    assert not any(sampled(0.0, "qa", i) for i in range(100))


def test_shipped_policy_never_automates_s0_or_child_safety() -> None:
    for area in (PolicyArea.CHILD_SAFETY, PolicyArea.SELF_HARM):
        rule = POLICY.rule_for(area)
        assert rule.auto_action_at is None
        assert rule.dismiss_below is None


def test_a_queue_floor_is_the_gravest_tier_routed_to_it() -> None:
    assert POLICY.queue_floor("child-safety") is Tier.S0
    assert POLICY.queue_floor("extremism") is Tier.S1
    assert POLICY.queue_floor("general") is Tier.S1  # privacy (S1) takes the default queue
    assert POLICY.queue_floor("spam") is Tier.S3
    assert POLICY.queue_floor("appeals") is POLICY.queue_floor("qa") is Tier.S0
    assert POLICY.queue_floor("legal") is None


_KINDS = {
    SourceKind.LEGAL_ORDER: Source.AUTHORITY_ORDER,
    SourceKind.LAW_ENFORCEMENT: Source.AUTHORITY_ORDER,
    SourceKind.REGULATOR: Source.AUTHORITY_ORDER,
    SourceKind.ADVERTISER: Source.USER_NOTICE,
}


def _kind_route(area: PolicyArea, score: float, kind: SourceKind | None, source: Source) -> Route:
    report = make_report(policy_area=area, source=source, source_kind=kind)
    return route(POLICY, report, make_classified(report, {area: score}).payload.classification)


def test_only_a_legal_order_is_on_the_terrorist_content_clock() -> None:
    area = PolicyArea.VIOLENT_EXTREMISM
    order = _kind_route(area, 0.5, SourceKind.LEGAL_ORDER, Source.AUTHORITY_ORDER)
    referral = _kind_route(area, 0.5, SourceKind.LAW_ENFORCEMENT, Source.AUTHORITY_ORDER)
    request = _kind_route(area, 0.5, SourceKind.REGULATOR, Source.AUTHORITY_ORDER)
    assert order.legal_clock == "terrorist-content-removal-order"
    assert referral.legal_clock is None and request.legal_clock is None
    # An order from before kinds (authority_order without one) is still a legal order.
    older = _route(area, 0.5, source=Source.AUTHORITY_ORDER)
    assert older.legal_clock == "terrorist-content-removal-order"
    assert older.priority == order.priority


def test_each_registered_kind_has_its_own_deadline_and_priority() -> None:
    area = PolicyArea.HARASSMENT
    routes = {k: _kind_route(area, 0.6, k, s) for k, s in _KINDS.items()}
    flagger = _route(area, 0.6, source=Source.TRUSTED_FLAGGER)
    notice = _route(area, 0.6)
    automated = _route(area, 0.6, source=Source.AUTOMATED_DETECTION)

    # Ranking (DOMAIN §2): authorities and trusted flaggers > notices > other.
    ranked = [
        routes[SourceKind.LEGAL_ORDER],
        routes[SourceKind.LAW_ENFORCEMENT],
        routes[SourceKind.REGULATOR],
        flagger,
        notice,
        routes[SourceKind.ADVERTISER],
        automated,
    ]
    assert [r.priority for r in ranked] == sorted((r.priority for r in ranked), reverse=True)
    assert len({r.priority for r in ranked}) == len(ranked)
    # Deadlines: legal order soonest, then referral, regulator; an advertiser's is the latest.
    assert (
        routes[SourceKind.LEGAL_ORDER].deadline
        < routes[SourceKind.LAW_ENFORCEMENT].deadline
        < routes[SourceKind.REGULATOR].deadline
        < notice.deadline
        < routes[SourceKind.ADVERTISER].deadline
    )
    # The authority kinds are never settled by machine; an advertiser's complaint may be.
    for kind in (SourceKind.LEGAL_ORDER, SourceKind.LAW_ENFORCEMENT, SourceKind.REGULATOR):
        assert _kind_route(area, 0.99, kind, Source.AUTHORITY_ORDER).kind == "review"
    assert _kind_route(area, 0.99, SourceKind.ADVERTISER, Source.USER_NOTICE).kind == "action"


def test_source_kind_rule_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: x\ndefaults: {queue: q, action: remove_content}\n"
        "source_kinds: {regulator: {sla_factor: 0, priority_weight: 450}}\n"
    )
    with pytest.raises(ValueError, match="sla_factor"):
        load_policy(bad)
    bad.write_text(
        "version: x\ndefaults: {queue: q, action: remove_content}\n"
        "source_kinds: {embassy: {sla_factor: 1, priority_weight: 450}}\n"
    )
    with pytest.raises(ValueError, match="embassy"):
        load_policy(bad)
