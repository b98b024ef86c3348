"""Graduated enforcement: strikes, the per-area ladder, preservation and statement grounds.

Pure logic over the policy file (``policies/default.yaml``); no I/O beyond loading it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import ActionType
from shared.taxonomy import PolicyArea

ACCOUNT_ACTIONS: tuple[ActionType, ...] = (
    ActionType.WARN_ACCOUNT,
    ActionType.RESTRICT_ACCOUNT,
    ActionType.SUSPEND_ACCOUNT,
    ActionType.TERMINATE_ACCOUNT,
)
"""Account actions, mildest first: the order the ladder climbs."""

# Monetisation actions act on the account's earnings, not its content.
OWNER_ACTIONS = frozenset(
    {*ACCOUNT_ACTIONS, ActionType.SUSPEND_MONETISATION, ActionType.TERMINATE_MONETISATION}
)
TEMPORARY_ACTIONS = frozenset({ActionType.RESTRICT_ACCOUNT, ActionType.SUSPEND_ACCOUNT})


def severity(action: ActionType) -> int:
    """Rank of an account action on the ladder (-1 for anything else)."""
    return ACCOUNT_ACTIONS.index(action) if action in ACCOUNT_ACTIONS else -1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    strikes: int = Field(ge=1, description="Active strike weight at which this step applies.")
    action: ActionType
    duration_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _account_action_with_duration(self) -> Self:
        if self.action not in ACCOUNT_ACTIONS:
            raise ValueError(f"{self.action.value} is not an account action")
        if self.action in TEMPORARY_ACTIONS and self.duration_days is None:
            raise ValueError(f"{self.action.value} needs duration_days")
        if self.action not in TEMPORARY_ACTIONS and self.duration_days is not None:
            raise ValueError(f"{self.action.value} takes no duration_days")
        return self


class AreaRules(_Strict):
    weight: int | None = Field(default=None, ge=0)
    expiry_days: int | None = Field(default=None, ge=1)
    immediate: Literal[ActionType.TERMINATE_ACCOUNT] | None = None
    thresholds: tuple[Threshold, ...] | None = None
    ground: Literal["illegal", "incompatible"] | None = None
    legal_ground: str | None = Field(default=None, min_length=1, max_length=500)
    explanation: str | None = Field(default=None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _thresholds_climb(self) -> Self:
        steps = self.thresholds or ()
        for lower, higher in itertools.pairwise(steps):
            if higher.strikes <= lower.strikes:
                raise ValueError("thresholds must be in increasing order of strikes")
            if severity(higher.action) < severity(lower.action):
                raise ValueError("a higher threshold cannot issue a milder action")
        return self


class DefaultRules(AreaRules):
    weight: int = Field(default=1, ge=0)
    thresholds: tuple[Threshold, ...] = Field(min_length=1)
    ground: Literal["illegal", "incompatible"]
    legal_ground: str = Field(min_length=1, max_length=500)
    explanation: str = Field(min_length=1, max_length=2000)


class LegalReportRule(_Strict):
    channel: str = Field(min_length=1)
    due_hours: int = Field(ge=1, le=24 * 30)


class EnforcementPolicy(_Strict):
    version: str = Field(min_length=1)
    strike_expiry_days: int = Field(ge=1)
    evidence_retention_days: int = Field(ge=1)
    preservation: dict[PolicyArea, int] = Field(default_factory=dict)
    legal_reports: dict[PolicyArea, LegalReportRule] = Field(default_factory=dict)
    default: DefaultRules
    areas: dict[PolicyArea, AreaRules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _gravest_areas_preserved(self) -> Self:
        for area, days in self.preservation.items():
            if days < 1:
                raise ValueError(f"preservation.{area.value}: days must be >= 1")
        return self

    def rules(self, area: PolicyArea) -> AreaRules:
        return self.areas.get(area) or AreaRules()

    def weight(self, area: PolicyArea) -> int:
        w = self.rules(area).weight
        return self.default.weight if w is None else w

    def expiry(self, area: PolicyArea) -> timedelta:
        days = self.rules(area).expiry_days or self.strike_expiry_days
        return timedelta(days=days)

    def thresholds(self, area: PolicyArea) -> tuple[Threshold, ...]:
        return self.rules(area).thresholds or self.default.thresholds

    def ground(self, area: PolicyArea) -> tuple[str, str, str]:
        """``(ground, legal ground, explanation)`` for the statement of reasons."""
        r = self.rules(area)
        return (
            r.ground or self.default.ground,
            r.legal_ground or self.default.legal_ground,
            r.explanation or self.default.explanation,
        )

    def hold(self, area: PolicyArea) -> timedelta | None:
        days = self.preservation.get(area)
        return timedelta(days=days) if days else None


@dataclass(frozen=True, slots=True)
class AccountStep:
    action: ActionType
    duration_days: int | None


def ladder_step(
    policy: EnforcementPolicy, area: PolicyArea, active_weight: int
) -> AccountStep | None:
    """The account action an account with ``active_weight`` strikes earns in ``area``."""
    rules = policy.rules(area)
    if rules.immediate is not None:
        return AccountStep(rules.immediate, None)
    reached = [t for t in policy.thresholds(area) if active_weight >= t.strikes]
    if not reached:
        return None
    top = reached[-1]
    return AccountStep(top.action, top.duration_days)


def combine(requested: AccountStep | None, ladder: AccountStep | None) -> AccountStep | None:
    """The account action to issue: the graver of the reviewer's request and the ladder's."""
    if requested is None or ladder is None:
        return requested or ladder
    if severity(ladder.action) > severity(requested.action):
        return ladder
    if ladder.action is requested.action and requested.duration_days and ladder.duration_days:
        return AccountStep(requested.action, max(requested.duration_days, ladder.duration_days))
    return requested


def ends_at(start: datetime, duration_days: int | None) -> datetime | None:
    return start + timedelta(days=duration_days) if duration_days else None


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later (clamped to the month's last day): the appeal window."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def load_policy(path: Path) -> EnforcementPolicy:
    """Read and validate the policy file; raises ``ValueError`` naming the problem."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return EnforcementPolicy.model_validate(data)
