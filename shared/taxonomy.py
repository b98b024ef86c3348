"""The policy taxonomy: internal policy areas, EU DSA categories and severity tiers.

Three fields stay apart: the internal ``PolicyArea``, the DSA ``DsaCategory`` reported to the
Commission, and finer keywords. ``POLICY_AREAS`` ties each area to its category and tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class PolicyArea(StrEnum):
    CHILD_SAFETY = "child_safety"
    VIOLENT_EXTREMISM = "violent_extremism"
    SELF_HARM = "self_harm"
    VIOLENT_THREATS = "violent_threats"
    HATE_SPEECH = "hate_speech"
    HARASSMENT = "harassment"
    PRIVACY = "privacy"
    SCAMS_FRAUD = "scams_fraud"
    UNSAFE_GOODS = "unsafe_goods"
    IP_INFRINGEMENT = "ip_infringement"
    CIVIC_INTEGRITY = "civic_integrity"
    SPAM = "spam"
    ADULT_NUDITY = "adult_nudity"
    ANIMAL_WELFARE = "animal_welfare"
    CONSUMER_INFORMATION = "consumer_information"
    OTHER = "other"


class DsaCategory(StrEnum):
    ANIMAL_WELFARE = "STATEMENT_CATEGORY_ANIMAL_WELFARE"
    CONSUMER_INFORMATION = "STATEMENT_CATEGORY_CONSUMER_INFORMATION"
    CYBER_VIOLENCE = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    CYBER_VIOLENCE_AGAINST_WOMEN = "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN"
    DATA_PROTECTION_AND_PRIVACY_VIOLATIONS = (
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
    )
    ILLEGAL_OR_HARMFUL_SPEECH = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    INTELLECTUAL_PROPERTY_INFRINGEMENTS = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS = (
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS"
    )
    NOT_SPECIFIED_NOTICE = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
    OTHER_VIOLATION_TC = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    PROTECTION_OF_MINORS = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    RISK_FOR_PUBLIC_SECURITY = "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    SCAMS_AND_FRAUD = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    SELF_HARM = "STATEMENT_CATEGORY_SELF_HARM"
    UNSAFE_AND_PROHIBITED_PRODUCTS = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    VIOLENCE = "STATEMENT_CATEGORY_VIOLENCE"


class Tier(StrEnum):
    """Severity tier: S0 is the gravest (never settled without a human)."""

    S0 = "S0"
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"


@dataclass(frozen=True, slots=True)
class AreaInfo:
    dsa_category: DsaCategory
    tier: Tier
    target_time_to_action: timedelta


_H = timedelta(hours=1)

POLICY_AREAS: dict[PolicyArea, AreaInfo] = {
    PolicyArea.CHILD_SAFETY: AreaInfo(DsaCategory.PROTECTION_OF_MINORS, Tier.S0, _H),
    PolicyArea.VIOLENT_EXTREMISM: AreaInfo(DsaCategory.RISK_FOR_PUBLIC_SECURITY, Tier.S1, 24 * _H),
    PolicyArea.SELF_HARM: AreaInfo(DsaCategory.SELF_HARM, Tier.S0, _H),
    PolicyArea.VIOLENT_THREATS: AreaInfo(DsaCategory.VIOLENCE, Tier.S1, 24 * _H),
    PolicyArea.HATE_SPEECH: AreaInfo(DsaCategory.ILLEGAL_OR_HARMFUL_SPEECH, Tier.S1, 24 * _H),
    PolicyArea.HARASSMENT: AreaInfo(DsaCategory.CYBER_VIOLENCE, Tier.S2, 24 * _H),
    PolicyArea.PRIVACY: AreaInfo(
        DsaCategory.DATA_PROTECTION_AND_PRIVACY_VIOLATIONS, Tier.S1, 24 * _H
    ),
    PolicyArea.SCAMS_FRAUD: AreaInfo(DsaCategory.SCAMS_AND_FRAUD, Tier.S2, 48 * _H),
    PolicyArea.UNSAFE_GOODS: AreaInfo(DsaCategory.UNSAFE_AND_PROHIBITED_PRODUCTS, Tier.S2, 72 * _H),
    PolicyArea.IP_INFRINGEMENT: AreaInfo(
        DsaCategory.INTELLECTUAL_PROPERTY_INFRINGEMENTS, Tier.S2, 72 * _H
    ),
    PolicyArea.CIVIC_INTEGRITY: AreaInfo(
        DsaCategory.NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS, Tier.S2, 48 * _H
    ),
    PolicyArea.SPAM: AreaInfo(DsaCategory.OTHER_VIOLATION_TC, Tier.S3, 168 * _H),
    PolicyArea.ADULT_NUDITY: AreaInfo(DsaCategory.OTHER_VIOLATION_TC, Tier.S3, 168 * _H),
    PolicyArea.ANIMAL_WELFARE: AreaInfo(DsaCategory.ANIMAL_WELFARE, Tier.S2, 72 * _H),
    PolicyArea.CONSUMER_INFORMATION: AreaInfo(DsaCategory.CONSUMER_INFORMATION, Tier.S3, 72 * _H),
    PolicyArea.OTHER: AreaInfo(DsaCategory.NOT_SPECIFIED_NOTICE, Tier.S3, 168 * _H),
}


def dsa_category(area: PolicyArea) -> DsaCategory:
    """The DSA statement category a policy area is reported under."""
    return POLICY_AREAS[area].dsa_category


def tier(area: PolicyArea) -> Tier:
    """The severity tier of a policy area."""
    return POLICY_AREAS[area].tier
