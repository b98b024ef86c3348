"""The declarative routing policy and the pure decision it makes for one classified report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import ActionType, Classification, Report, Source
from shared.kafka.topics import QUEUE_NAME
from shared.taxonomy import POLICY_AREAS, PolicyArea, Tier


class AreaRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_action_at: float | None = Field(default=None, ge=0, le=1)
    dismiss_below: float | None = Field(default=None, ge=0, le=1)
    queue: str | None = None
    action: ActionType | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AreaRule:
        if (
            self.auto_action_at is not None
            and self.dismiss_below is not None
            and self.dismiss_below > self.auto_action_at
        ):
            raise ValueError("dismiss_below must not be above auto_action_at")
        if self.queue is not None and not QUEUE_NAME.match(self.queue):
            raise ValueError(f"invalid queue name {self.queue!r}")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    defaults: AreaRule
    areas: dict[PolicyArea, AreaRule] = Field(default_factory=dict)
    human_only_sources: list[Source] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_defaults(self) -> Policy:
        if self.defaults.queue is None or self.defaults.action is None:
            raise ValueError("defaults must name a queue and an action")
        return self

    def rule_for(self, area: PolicyArea) -> AreaRule:
        """The area's rule with the defaults filled in where it is silent."""
        own = self.areas.get(area)
        if own is None:
            return self.defaults
        fields = own.model_fields_set
        return AreaRule(
            auto_action_at=own.auto_action_at
            if "auto_action_at" in fields
            else self.defaults.auto_action_at,
            dismiss_below=own.dismiss_below
            if "dismiss_below" in fields
            else self.defaults.dismiss_below,
            queue=own.queue or self.defaults.queue,
            action=own.action or self.defaults.action,
        )


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; raises ``ValueError`` naming what is wrong."""
    with path.open(encoding="utf-8") as fh:
        return Policy.model_validate(yaml.safe_load(fh))


@dataclass(frozen=True, slots=True)
class Route:
    """What the policy decided: act, dismiss, or review on a queue."""

    kind: str  # "action" | "dismiss" | "review"
    policy_area: PolicyArea
    score: float
    reason: str
    action: ActionType | None = None
    queue: str | None = None
    tier: Tier = Tier.S3
    deadline: datetime | None = None
    priority: int = 0


def route(policy: Policy, report: Report, classification: Classification) -> Route:
    """Decide one report. S0 areas and human-only sources never settle without a human."""
    area = classification.top_policy_area
    score = classification.top_score
    # A report filed under an S0 area (child safety, imminent self-harm) keeps that area
    # whatever the models say: it always reaches a human.
    reported = report.policy_area
    if POLICY_AREAS[reported].tier == Tier.S0:
        area, score = reported, classification.scores.get(reported, 0.0)
    info = POLICY_AREAS[area]
    rule = policy.rule_for(area)
    human_only = info.tier == Tier.S0 or report.source in policy.human_only_sources
    deadline = report.received_at + info.target_time_to_action
    if not human_only:
        if rule.auto_action_at is not None and score >= rule.auto_action_at:
            return Route(
                "action",
                area,
                score,
                f"score {score:.2f} >= {rule.auto_action_at}",
                action=rule.action,
                tier=info.tier,
            )
        if rule.dismiss_below is not None and score < rule.dismiss_below:
            return Route(
                "dismiss", area, score, f"score {score:.2f} < {rule.dismiss_below}", tier=info.tier
            )
    reason = (
        "human review required for this tier or source"
        if human_only
        else (f"score {score:.2f} between thresholds")
    )
    return Route(
        "review",
        area,
        score,
        reason,
        queue=rule.queue,
        tier=info.tier,
        deadline=deadline,
        priority=priority(info.tier, report.source, score),
    )


_TIER_WEIGHT = {Tier.S0: 4000, Tier.S1: 3000, Tier.S2: 2000, Tier.S3: 1000}
_SOURCE_WEIGHT = {Source.AUTHORITY_ORDER: 300, Source.TRUSTED_FLAGGER: 200}


def priority(tier: Tier, source: Source, score: float) -> int:
    """Higher is more urgent: severity first, then source, then the evidence."""
    return _TIER_WEIGHT[tier] + _SOURCE_WEIGHT.get(source, 0) + round(score * 100)
