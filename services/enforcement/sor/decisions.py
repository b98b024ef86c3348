"""Statements of reasons (DSA Art. 17) built from the decision record, without personal data.

The facts and explanation come from the policy file and the decision's categorical fields,
never from free text a reviewer or a reporter wrote: that text may name people.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.enforcement.ladder import EnforcementPolicy
from services.enforcement.sor.mapping import build_statement
from services.enforcement.sor.vocab import AutomatedDecision, DecisionGround
from shared.events import ActionType, DecidedBy, Decision, Source, SourceKind

_SOURCE_WORDS = {
    Source.USER_NOTICE: "a notice from a user",
    Source.TRUSTED_FLAGGER: "a notice from a trusted flagger",
    Source.AUTHORITY_ORDER: "an order from a public authority",
    Source.AUTOMATED_DETECTION: "the platform's automated detection",
    Source.INTERNAL: "the platform's own investigation",
}
_KIND_WORDS = {
    SourceKind.LEGAL_ORDER: "an order from a public authority",
    SourceKind.LAW_ENFORCEMENT: "a referral from a law enforcement authority",
    SourceKind.REGULATOR: "a request from a regulator",
    SourceKind.ADVERTISER: "a notice from an advertiser",
}


def puid_for(action_id: uuid.UUID) -> str:
    """The statement's platform-unique id: one action, one statement, never reused."""
    return f"sor-{action_id}"


def automated_decision(decision: Decision) -> AutomatedDecision:
    if decision.decided_by is DecidedBy.AUTOMATED:
        return AutomatedDecision.FULLY
    if decision.automated_detection or decision.source is Source.AUTOMATED_DETECTION:
        return AutomatedDecision.PARTIALLY
    return AutomatedDecision.NOT_AUTOMATED


def _source_words(decision: Decision) -> str:
    if decision.source_kind is not None:
        return _KIND_WORDS[decision.source_kind]
    return _SOURCE_WORDS[decision.source]


def facts(decision: Decision, action: ActionType) -> str:
    who = (
        "automated means under the platform's published policy"
        if decision.decided_by is DecidedBy.AUTOMATED
        else "a human moderator"
    )
    return (
        f"Following {_source_words(decision)}, the {decision.subject.subject_type.value} "
        f"was assessed by {who} against the {decision.policy_area.value.replace('_', ' ')} "
        f"policy and the action '{action.value.replace('_', ' ')}' was taken."
    )


class StatementBuilder:
    """Builds statements, validating each distinct shape once.

    Two actions with the same area, category, action, content type, source, automation,
    scope and dates get the same statement but for the puid, so the validated template is
    kept and only the puid (always of the pattern's form: ``sor-`` and a UUID) is set.
    """

    def __init__(self, policy: EnforcementPolicy, max_templates: int = 4096) -> None:
        self.policy = policy
        self.max_templates = max_templates
        self._templates: dict[tuple[object, ...], dict[str, Any]] = {}

    def build(
        self,
        decision: Decision,
        *,
        action_id: uuid.UUID,
        action: ActionType,
        applied_at: datetime,
        ends_at: datetime | None,
    ) -> dict[str, Any]:
        key = (
            decision.policy_area,
            decision.dsa_category,
            action,
            decision.subject.subject_type,
            decision.subject.content_type,
            decision.source,
            decision.source_kind,
            decision.decided_by,
            decision.automated_detection,
            tuple(decision.territorial_scope),
            applied_at.date(),
            ends_at.date() if ends_at else None,
        )
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= self.max_templates:
                self._templates.clear()
            template = build(
                self.policy,
                decision,
                action_id=action_id,
                action=action,
                applied_at=applied_at,
                ends_at=ends_at,
            )
            self._templates[key] = template
        return {**template, "puid": puid_for(action_id)}


def build(
    policy: EnforcementPolicy,
    decision: Decision,
    *,
    action_id: uuid.UUID,
    action: ActionType,
    applied_at: datetime,
    ends_at: datetime | None,
) -> dict[str, Any]:
    """The statement for one action, as one element of the API's ``statements`` array."""
    ground, legal_ground, explanation = policy.ground(decision.policy_area)
    statement = build_statement(
        puid=puid_for(action_id),
        decision_ground=(
            DecisionGround.ILLEGAL_CONTENT
            if ground == "illegal"
            else DecisionGround.INCOMPATIBLE_CONTENT
        ),
        category=decision.dsa_category.value,
        action=action.value,
        content_type=decision.subject.content_type.value,
        decided_at=applied_at,
        content_date=None,
        facts=facts(decision, action),
        legal_ground=legal_ground,
        explanation=explanation,
        source=decision.source.value,
        automated_detection=(
            decision.automated_detection or decision.source is Source.AUTOMATED_DETECTION
        ),
        automated_decision=automated_decision(decision).value,
        territorial_scope=decision.territorial_scope or None,
        language=None,
        end_date=ends_at.date() if ends_at else None,
        keywords=None,
        source_kind=decision.source_kind.value if decision.source_kind else None,
    )
    return statement.model_dump(mode="json", exclude_none=True)
