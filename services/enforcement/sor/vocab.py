"""The DSA vocabularies, field patterns and validated field types of a statement of reasons.

Values are spelled exactly as the Transparency Database API spells them.
"""

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field

MAX_BATCH_SIZE: Final = 100
"""The API accepts at most this many statements per ``POST /statements``."""

SHORT_TEXT_MAX: Final = 500
EXPLANATION_MAX: Final = 2000
FACTS_MAX: Final = 5000

# --------------------------------------------------------------------------------------------
# DSA vocabularies (values exactly as the Transparency Database API spells them)
# --------------------------------------------------------------------------------------------


class DecisionVisibility(StrEnum):
    """Restriction of the visibility of specific items of information (Art. 17(1)(a))."""

    CONTENT_REMOVED = "DECISION_VISIBILITY_CONTENT_REMOVED"
    CONTENT_DISABLED = "DECISION_VISIBILITY_CONTENT_DISABLED"
    CONTENT_DEMOTED = "DECISION_VISIBILITY_CONTENT_DEMOTED"
    CONTENT_AGE_RESTRICTED = "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED"
    CONTENT_INTERACTION_RESTRICTED = "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED"
    CONTENT_LABELLED = "DECISION_VISIBILITY_CONTENT_LABELLED"
    OTHER = "DECISION_VISIBILITY_OTHER"


class DecisionMonetary(StrEnum):
    """Suspension, termination or other restriction of monetary payments (Art. 17(1)(b))."""

    SUSPENSION = "DECISION_MONETARY_SUSPENSION"
    TERMINATION = "DECISION_MONETARY_TERMINATION"
    OTHER = "DECISION_MONETARY_OTHER"


class DecisionProvision(StrEnum):
    """Suspension or termination of the provision of the service (Art. 17(1)(c))."""

    PARTIAL_SUSPENSION = "DECISION_PROVISION_PARTIAL_SUSPENSION"
    TOTAL_SUSPENSION = "DECISION_PROVISION_TOTAL_SUSPENSION"
    PARTIAL_TERMINATION = "DECISION_PROVISION_PARTIAL_TERMINATION"
    TOTAL_TERMINATION = "DECISION_PROVISION_TOTAL_TERMINATION"


class DecisionAccount(StrEnum):
    """Suspension or termination of the recipient's account (Art. 17(1)(d))."""

    SUSPENDED = "DECISION_ACCOUNT_SUSPENDED"
    TERMINATED = "DECISION_ACCOUNT_TERMINATED"


class DecisionGround(StrEnum):
    """Whether the content was illegal or incompatible with the terms and conditions."""

    ILLEGAL_CONTENT = "DECISION_GROUND_ILLEGAL_CONTENT"
    INCOMPATIBLE_CONTENT = "DECISION_GROUND_INCOMPATIBLE_CONTENT"


class YesNo(StrEnum):
    """The API's spelling of a boolean."""

    YES = "Yes"
    NO = "No"


class ContentType(StrEnum):
    """Type of the content the decision is about."""

    APP = "CONTENT_TYPE_APP"
    AUDIO = "CONTENT_TYPE_AUDIO"
    IMAGE = "CONTENT_TYPE_IMAGE"
    PRODUCT = "CONTENT_TYPE_PRODUCT"
    SYNTHETIC_MEDIA = "CONTENT_TYPE_SYNTHETIC_MEDIA"
    TEXT = "CONTENT_TYPE_TEXT"
    VIDEO = "CONTENT_TYPE_VIDEO"
    OTHER = "CONTENT_TYPE_OTHER"


class Territory(StrEnum):
    """EU member states plus the EEA states (IS, LI, NO). Greece is ``GR``, not ``EL``."""

    AT = "AT"
    BE = "BE"
    BG = "BG"
    CY = "CY"
    CZ = "CZ"
    DE = "DE"
    DK = "DK"
    EE = "EE"
    ES = "ES"
    FI = "FI"
    FR = "FR"
    GR = "GR"
    HR = "HR"
    HU = "HU"
    IE = "IE"
    IT = "IT"
    LT = "LT"
    LU = "LU"
    LV = "LV"
    MT = "MT"
    NL = "NL"
    PL = "PL"
    PT = "PT"
    RO = "RO"
    SE = "SE"
    SI = "SI"
    SK = "SK"
    IS = "IS"
    LI = "LI"
    NO = "NO"


ALL_TERRITORIES: Final[tuple[Territory, ...]] = tuple(Territory)
"""Default territorial scope: the whole EU and EEA, in declaration order."""


class SourceType(StrEnum):
    """What the decision was taken on (Art. 17(3)(b))."""

    ARTICLE_16 = "SOURCE_ARTICLE_16"
    TRUSTED_FLAGGER = "SOURCE_TRUSTED_FLAGGER"
    OTHER_NOTIFICATION = "SOURCE_TYPE_OTHER_NOTIFICATION"
    VOLUNTARY = "SOURCE_VOLUNTARY"


class AutomatedDecision(StrEnum):
    """How far the decision itself was automated (Art. 17(3)(c))."""

    FULLY = "AUTOMATED_DECISION_FULLY"
    PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"
    NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"


# Current ISO 639-1 alpha-2 codes (the withdrawn ``bh`` excluded), upper-cased as the API wants.
_ISO_639_1_TEXT: Final = """
    AA AB AE AF AK AM AN AR AS AV AY AZ BA BE BG BI BM BN BO BR BS CA CE CH CO CR CS CU CV CY
    DA DE DV DZ EE EL EN EO ES ET EU FA FF FI FJ FO FR FY GA GD GL GN GU GV HA HE HI HO HR HT
    HU HY HZ IA ID IE IG II IK IO IS IT IU JA JV KA KG KI KJ KK KL KM KN KO KR KS KU KV KW KY
    LA LB LG LI LN LO LT LU LV MG MH MI MK ML MN MR MS MT MY NA NB ND NE NG NL NN NO NR NV NY
    OC OJ OM OR OS PA PI PL PS PT QU RM RN RO RU RW SA SC SD SE SG SI SK SL SM SN SO SQ SR SS
    ST SU SV SW TA TE TG TH TI TK TL TN TO TR TS TT TW TY UG UK UR UZ VE VI VO WA WO XH YI YO
    ZA ZH ZU
    """
ISO_639_1_CODES: Final[frozenset[str]] = frozenset(_ISO_639_1_TEXT.split())

# --------------------------------------------------------------------------------------------
# Shared patterns (used verbatim by the model's validators and by the JSON Schema)
# --------------------------------------------------------------------------------------------


def _anchored(body: str) -> str:
    """Anchor ``body`` so that Python ``re.search`` and ECMA-262 agree (see module doc)."""
    return f"^(?:{body})$(?!\\n)"


PUID_PATTERN: Final = _anchored("[a-zA-Z0-9-_]+")
KEYWORD_PATTERN: Final = _anchored("KEYWORD_[A-Z_]+")
NON_BLANK_PATTERN: Final = r"\S"
_LEAP_DAY = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29"
_NON_LEAP_DAY = (
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))"
)
# A real calendar date, YYYY-MM-DD, year 0001..9999 (the range of ``datetime.date``).
DATE_PATTERN: Final = _anchored(f"(?!0000)(?:{_NON_LEAP_DAY}|{_LEAP_DAY})")

# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    if re.search(NON_BLANK_PATTERN, value) is None:
        raise ValueError("must contain a non-whitespace character")
    return value


def _check_puid(value: str) -> str:
    if re.search(PUID_PATTERN, value) is None:
        raise ValueError("puid may only contain letters, digits, '-' and '_'")
    return value


def _check_keyword(value: str) -> str:
    if re.search(KEYWORD_PATTERN, value) is None:
        raise ValueError("category_specification values must match ^KEYWORD_[A-Z_]+$")
    return value


def _check_language(value: str) -> str:
    if value not in ISO_639_1_CODES:
        raise ValueError("content_language must be an upper-case ISO 639-1 code, e.g. 'EN'")
    return value


def _parse_api_date(value: object) -> date:
    """Accept a ``date`` (not a ``datetime``) or a strict ``YYYY-MM-DD`` string, nothing else.

    Stricter than pydantic's own ``date`` parsing, which would also take timestamps and other
    ISO 8601 spellings that the API (and the JSON Schema) reject.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.search(DATE_PATTERN, value) is not None:
        return date.fromisoformat(value)
    raise ValueError("dates must be real calendar dates formatted YYYY-MM-DD")


ShortText = Annotated[str, Field(max_length=SHORT_TEXT_MAX), AfterValidator(_not_blank)]
ExplanationText = Annotated[str, Field(max_length=EXPLANATION_MAX), AfterValidator(_not_blank)]
FactsText = Annotated[str, Field(max_length=FACTS_MAX), AfterValidator(_not_blank)]
Puid = Annotated[str, Field(max_length=SHORT_TEXT_MAX), AfterValidator(_check_puid)]
Keyword = Annotated[str, AfterValidator(_check_keyword)]
Language = Annotated[str, AfterValidator(_check_language)]
ApiDate = Annotated[date, BeforeValidator(_parse_api_date)]


class DecisionField(StrEnum):
    """The four restriction fields of a statement; at least one must be present."""

    VISIBILITY = "decision_visibility"
    MONETARY = "decision_monetary"
    PROVISION = "decision_provision"
    ACCOUNT = "decision_account"


DECISION_END_DATE_FIELDS: Final[Mapping[DecisionField, str]] = MappingProxyType(
    {
        DecisionField.VISIBILITY: "end_date_visibility_restriction",
        DecisionField.MONETARY: "end_date_monetary_restriction",
        DecisionField.PROVISION: "end_date_service_restriction",
        DecisionField.ACCOUNT: "end_date_account_restriction",
    }
)
"""Which ``end_date_*`` field bounds the restriction recorded in each decision field."""
