"""The declarative routing policy and the pure decision it makes for one classified report.

A policy file holds, per policy area and per severity tier, the thresholds for automated action
and dismissal, the review queue and the SLA target; the sources, tiers and areas that never
settle without a human; review deadline factors and priority weights per source and per
registered kind of source (legal order, law enforcement, regulator, advertiser); legal clocks;
four-eyes rules; QA sampling shares; the appeals queue; and the automation circuit breaker.
Rules merge area over tier over defaults, field by field.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import ActionType, Classification, Report, Source, SourceKind
from shared.kafka.topics import QUEUE_NAME
from shared.taxonomy import POLICY_AREAS, PolicyArea, Tier


def _check_queue(queue: str | None) -> None:
    if queue is not None and not QUEUE_NAME.match(queue):
        raise ValueError(f"invalid queue name {queue!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AreaRule(_Strict):
    """Thresholds, queue, action and SLA; any field left out is taken from the layer below."""

    auto_action_at: float | None = Field(default=None, ge=0, le=1)
    dismiss_below: float | None = Field(default=None, ge=0, le=1)
    queue: str | None = None
    action: ActionType | None = None
    sla_minutes: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> AreaRule:
        if (
            self.auto_action_at is not None
            and self.dismiss_below is not None
            and self.dismiss_below > self.auto_action_at
        ):
            raise ValueError("dismiss_below must not be above auto_action_at")
        _check_queue(self.queue)
        return self


class HumanOnly(_Strict):
    """What is never settled without a human, whatever the score."""

    sources: list[Source] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=lambda: [Tier.S0])
    areas: list[PolicyArea] = Field(default_factory=list)


class LegalClock(_Strict):
    """A deadline the law sets, e.g. one hour for a terrorist-content removal order.

    With ``source_kind``, only reports of that registered kind are on the clock (a report of
    source ``authority_order`` without a kind counts as a legal order).
    """

    name: str = Field(min_length=1)
    source: Source
    source_kind: SourceKind | None = None
    area: PolicyArea
    minutes: int = Field(gt=0)

    def applies(self, report: Report, area: PolicyArea) -> bool:
        return (
            self.source == report.source
            and self.area == area
            and (self.source_kind is None or self.source_kind == source_kind_of(report))
        )


class SourceKindRule(_Strict):
    """Review deadline and priority of one registered kind of source; they replace those of
    its coarse source (``source_sla_factor`` and the built-in source weight)."""

    sla_factor: float = Field(gt=0, le=10, description="SLA multiplier (below 1: sooner).")
    priority_weight: int = Field(
        ge=0, lt=1000, description="Added to the priority in place of the source's weight."
    )


class FourEyes(_Strict):
    """Human decisions that need a second, different reviewer to confirm them."""

    actions: list[ActionType] = Field(default_factory=lambda: [ActionType.TERMINATE_ACCOUNT])
    tiers: list[Tier] = Field(default_factory=lambda: [Tier.S0])
    areas: list[PolicyArea] = Field(default_factory=list)

    def required(self, tier: Tier, area: PolicyArea, action: ActionType | None) -> bool:
        return (
            tier in self.tiers
            or area in self.areas
            or (action is not None and action in self.actions)
        )


class QaSampling(_Strict):
    """Shares of decided cases re-reviewed independently on the QA queue."""

    queue: str = "qa"
    human_share: float = Field(default=0.05, ge=0, le=1)
    automated_share: float = Field(default=0.01, ge=0, le=1)
    sla_minutes: int = Field(default=7 * 24 * 60, gt=0)

    @model_validator(mode="after")
    def _queue(self) -> QaSampling:
        _check_queue(self.queue)
        return self


class Appeals(_Strict):
    queue: str = "appeals"
    sla_minutes: int = Field(default=72 * 60, gt=0)

    @model_validator(mode="after")
    def _queue(self) -> Appeals:
        _check_queue(self.queue)
        return self


class BreakerConfig(_Strict):
    """The automation circuit breaker (see ``services.router.breaker``)."""

    enabled: bool = True
    window_seconds: float = Field(default=60.0, gt=0)
    alpha: float = Field(default=0.3, gt=0, le=1, description="EWMA weight of the last window.")
    factor: float = Field(
        default=5.0, gt=1, description="Trip when a window exceeds baseline times factor."
    )
    min_count: int = Field(default=200, ge=1, description="Never trip below this many in a window.")
    baseline_floor: float = Field(default=1.0, ge=0)
    warmup_windows: int = Field(default=5, ge=0, description="Windows observed before tripping.")
    cooldown_seconds: float = Field(default=900.0, gt=0)
    signal_factor: float = Field(default=5.0, gt=1)
    signal_min_count: int = Field(default=500, ge=1)


class Policy(_Strict):
    version: str = Field(min_length=1)
    defaults: AreaRule
    tiers: dict[Tier, AreaRule] = Field(default_factory=dict)
    areas: dict[PolicyArea, AreaRule] = Field(default_factory=dict)
    human_only: HumanOnly = Field(default_factory=HumanOnly)
    source_sla_factor: dict[Source, float] = Field(
        default_factory=dict, description="SLA multiplier per source (below 1: sooner)."
    )
    source_kinds: dict[SourceKind, SourceKindRule] = Field(
        default_factory=dict, description="Deadline factor and priority per registered kind."
    )
    legal_clocks: list[LegalClock] = Field(default_factory=list)
    four_eyes: FourEyes = Field(default_factory=FourEyes)
    qa: QaSampling = Field(default_factory=QaSampling)
    appeals: Appeals = Field(default_factory=Appeals)
    circuit_breaker: BreakerConfig = Field(default_factory=BreakerConfig)

    @model_validator(mode="after")
    def _complete_defaults(self) -> Policy:
        if self.defaults.queue is None or self.defaults.action is None:
            raise ValueError("defaults must name a queue and an action")
        for source, factor in self.source_sla_factor.items():
            if not 0 < factor <= 10:
                raise ValueError(f"source_sla_factor[{source}] must be in (0, 10]")
        return self

    def rule_for(self, area: PolicyArea) -> AreaRule:
        """The area's rule: area over its tier over the defaults, field by field.

        A field set explicitly to null in a higher layer (``auto_action_at: null``) wins too.
        """
        layers = [r for r in (self.areas.get(area), self.tiers.get(POLICY_AREAS[area].tier)) if r]
        merged: dict[str, object] = {}
        for name in AreaRule.model_fields:
            value = getattr(self.defaults, name)
            for layer in layers:
                if name in layer.model_fields_set:
                    value = getattr(layer, name)
                    break
            merged[name] = value
        return AreaRule.model_validate(merged)

    def sla_factor(self, report: Report) -> float:
        """The report's SLA multiplier: its registered kind's, else its source's, else 1."""
        kind = source_kind_of(report)
        rule = self.source_kinds.get(kind) if kind is not None else None
        if rule is not None:
            return rule.sla_factor
        return self.source_sla_factor.get(report.source, 1.0)

    def source_weight(self, report: Report) -> int:
        """The report's priority weight for its source: its registered kind's, else built in."""
        kind = source_kind_of(report)
        rule = self.source_kinds.get(kind) if kind is not None else None
        return rule.priority_weight if rule is not None else source_rank(report.source)

    def queues(self) -> set[str]:
        """Every queue this policy can route to."""
        queues = {self.rule_for(area).queue for area in PolicyArea}
        return {q for q in queues if q} | {self.qa.queue, self.appeals.queue}

    def queue_floor(self, queue: str) -> Tier | None:
        """The gravest tier a queue is staffed for, or None for a queue this policy lacks.

        An area queue's floor is the gravest tier among the areas routed to it; the QA and
        appeals queues take cases of every area, so their floor is the gravest tier of all.
        """
        if queue in (self.qa.queue, self.appeals.queue):
            return min(Tier)
        tiers = [POLICY_AREAS[a].tier for a in PolicyArea if self.rule_for(a).queue == queue]
        return min(tiers) if tiers else None


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; raises ``ValueError`` naming what is wrong."""
    with path.open(encoding="utf-8") as fh:
        return Policy.model_validate(yaml.safe_load(fh))


@dataclass(frozen=True, slots=True)
class Route:
    """What the policy decided: act, dismiss, or review on a queue (with deadline and priority)."""

    kind: str  # "action" | "dismiss" | "review"
    policy_area: PolicyArea
    score: float
    reason: str
    queue: str
    tier: Tier
    deadline: datetime
    priority: int
    action: ActionType | None = None
    legal_clock: str | None = None


def deadline_for(policy: Policy, report: Report, area: PolicyArea) -> tuple[datetime, str | None]:
    """SLA target of the area (or its tier), scaled by source or its registered kind, capped by
    any legal clock."""
    rule = policy.rule_for(area)
    sla = (
        timedelta(minutes=rule.sla_minutes)
        if rule.sla_minutes is not None
        else POLICY_AREAS[area].target_time_to_action
    )
    sla = sla * policy.sla_factor(report)
    deadline = report.received_at + sla
    clock_name = None
    for clock in policy.legal_clocks:
        if clock.applies(report, area):
            legal = report.received_at + timedelta(minutes=clock.minutes)
            if legal <= deadline:
                deadline, clock_name = legal, clock.name
    return deadline, clock_name


def route(policy: Policy, report: Report, classification: Classification) -> Route:
    """Decide one report. Human-only tiers, areas and sources never settle without a human."""
    area = classification.top_policy_area
    score = classification.top_score
    # A report filed under an S0 area (child safety, imminent self-harm) keeps that area
    # whatever the models say: it always reaches a human.
    reported = report.policy_area
    if POLICY_AREAS[reported].tier == Tier.S0:
        area, score = reported, classification.scores.get(reported, 0.0)
    info = POLICY_AREAS[area]
    rule = policy.rule_for(area)
    deadline, clock = deadline_for(policy, report, area)
    assert rule.queue is not None
    review = Route(
        "review",
        area,
        score,
        f"score {score:.2f} between thresholds",
        queue=rule.queue,
        tier=info.tier,
        deadline=deadline,
        priority=priority(
            info.tier,
            report.source,
            score,
            report.reach,
            source_weight=policy.source_weight(report),
        ),
        action=rule.action,
        legal_clock=clock,
    )
    human = policy.human_only
    if (
        info.tier in human.tiers
        or area in human.areas
        or report.source in human.sources
        or clock is not None
    ):
        why = f"legal clock {clock}" if clock else "human review required for this tier or source"
        return _replace(review, reason=why)
    if rule.auto_action_at is not None and score >= rule.auto_action_at:
        return _replace(review, kind="action", reason=f"score {score:.2f} >= {rule.auto_action_at}")
    if rule.dismiss_below is not None and score < rule.dismiss_below:
        return _replace(
            review, kind="dismiss", reason=f"score {score:.2f} < {rule.dismiss_below}", action=None
        )
    return review


def _replace(r: Route, **changes: object) -> Route:
    return replace(r, **changes)  # type: ignore[arg-type]


def to_review(r: Route, reason: str) -> Route:
    """The same report sent to human review instead (e.g. by the circuit breaker)."""
    return _replace(r, kind="review", reason=reason)


_TIER_WEIGHT = {Tier.S0: 4000, Tier.S1: 3000, Tier.S2: 2000, Tier.S3: 1000}
# Trusted flaggers rank above ordinary notices, which rank above other sources (DOMAIN §2);
# authority orders carry legal weight and rank first.
_SOURCE_WEIGHT = {
    Source.AUTHORITY_ORDER: 600,
    Source.TRUSTED_FLAGGER: 400,
    Source.USER_NOTICE: 200,
}


def source_rank(source: Source) -> int:
    """How a source ranks for review order: authority order, trusted flagger, notice, other."""
    return _SOURCE_WEIGHT.get(source, 0)


def source_kind_of(report: Report) -> SourceKind | None:
    """The report's registered kind; an authority order from before kinds is a legal order."""
    if report.source_kind is not None:
        return report.source_kind
    return SourceKind.LEGAL_ORDER if report.source is Source.AUTHORITY_ORDER else None


def source_label(report: Report) -> str:
    """The finest bounded name of a report's source: its registered kind, else its source."""
    kind = source_kind_of(report)
    return kind.value if kind is not None else report.source.value


def priority(
    tier: Tier,
    source: Source,
    score: float,
    reach: int | None = None,
    linked: int = 1,
    *,
    source_weight: int | None = None,
) -> int:
    """Higher is more urgent: severity, then source, then reach, evidence and linked reports.

    ``source_weight`` replaces the source's built-in weight (the policy's weight for the
    report's registered kind of source). Nearness to breach is not folded in here: queues are
    worked earliest deadline first, so the deadline already ranks before priority (ties by
    priority).
    """
    reach_weight = min(300, round(60 * math.log10(1 + reach))) if reach else 0
    linked_weight = min(200, 25 * (linked - 1))
    return (
        _TIER_WEIGHT[tier]
        + (_SOURCE_WEIGHT.get(source, 0) if source_weight is None else source_weight)
        + reach_weight
        + round(score * 100)
        + linked_weight
    )


def sampled(share: float, *key: object) -> bool:
    """Deterministic sampling: the same key is always in or out (a replay samples the same)."""
    if share <= 0:
        return False
    digest = hashlib.sha256(":".join(str(k) for k in key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
