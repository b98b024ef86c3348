"""DSA Art. 17 statements of reasons (SoR) for the Commission's Transparency Database API.

Three layers, all describing the same request shape:

* :class:`StatementOfReasons` -- the pydantic v2 model. ``model_dump(mode="json",
  exclude_none=True)`` is exactly one element of the API's ``{"statements": [...]}`` body.
* :func:`build_json_schema` -- a hand-written Draft 2020-12 JSON Schema of the same rules,
  committed as ``sor_schema.json`` next to this module (regenerate with :func:`write_schema`).
* :func:`build_statement` -- a pure builder from our enforcement vocabulary (actions, sources,
  content types) to a validated statement.

Conventions shared by the model and the schema:

* An absent optional field is omitted, never sent as ``null``. The model treats an explicit
  ``None`` as absent (as the API does); the schema describes the serialised request, so it
  has no ``null`` anywhere.
* Every free-text field must contain a non-whitespace character: the API trims strings and
  treats an empty one as missing.
* Fields that only mean something next to a particular value (``decision_visibility_other``,
  ``illegal_content_*`` ...) are rejected without that value: the API silently drops them,
  so sending them would lose data without an error.
* Anchored patterns end in ``$(?!\\n)``: Python's ``re`` (used by ``jsonschema``) lets ``$``
  match before a trailing newline, ECMA-262 does not; the look-ahead makes both agree.
"""

import itertools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, NamedTuple, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.events import ActionType, Source
from shared.events import ContentType as SubjectContentType
from shared.taxonomy import DsaCategory

__all__ = [
    "ACTION_DECISION_FIELDS",
    "ALL_TERRITORIES",
    "CONTENT_TYPE_MAPPING",
    "DATE_PATTERN",
    "DECISION_END_DATE_FIELDS",
    "ISO_639_1_CODES",
    "KEYWORD_PATTERN",
    "MAX_BATCH_SIZE",
    "PUID_PATTERN",
    "SOR_SCHEMA_PATH",
    "SOURCE_TYPE_MAPPING",
    "WARNING_DECISION_TEXT",
    "ActionDecision",
    "AutomatedDecision",
    "ContentType",
    "DecisionAccount",
    "DecisionField",
    "DecisionGround",
    "DecisionMonetary",
    "DecisionProvision",
    "DecisionVisibility",
    "SourceType",
    "StatementBatch",
    "StatementOfReasons",
    "Territory",
    "YesNo",
    "batches",
    "build_batch_json_schema",
    "build_json_schema",
    "build_statement",
    "write_schema",
]

SOR_SCHEMA_PATH: Final[Path] = Path(__file__).with_name("sor_schema.json")
"""Where the committed JSON Schema lives (next to this module)."""

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

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class StatementOfReasons(BaseModel):
    """One statement of reasons, exactly as the Transparency Database API takes it.

    Serialise with ``model_dump(mode="json", exclude_none=True)``. Cross-field rules (at least
    one decision, the ``_OTHER`` texts, the per-ground texts, Article 16 notifier privacy and
    date ordering) are enforced by :meth:`_check_cross_field_rules` and mirrored one-for-one
    in :func:`build_json_schema`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- the restriction(s) imposed (Art. 17(1)) -------------------------------------------
    decision_visibility: Annotated[tuple[DecisionVisibility, ...], Field(min_length=1)] | None = (
        Field(
            default=None,
            description=(
                "Restrictions of the visibility of the content (Art. 17(1)(a)), non-empty if "
                "present. At least one of decision_visibility, decision_monetary, "
                "decision_provision and decision_account is required."
            ),
        )
    )
    decision_visibility_other: ShortText | None = Field(
        default=None,
        description=(
            "Describes the visibility restriction; required if and only if decision_visibility "
            "contains DECISION_VISIBILITY_OTHER. At most 500 characters."
        ),
    )
    decision_monetary: DecisionMonetary | None = Field(
        default=None,
        description="Restriction of monetary payments (Art. 17(1)(b)); a single value.",
    )
    decision_monetary_other: ShortText | None = Field(
        default=None,
        description=(
            "Describes the monetary restriction; required if and only if decision_monetary is "
            "DECISION_MONETARY_OTHER. At most 500 characters."
        ),
    )
    decision_provision: DecisionProvision | None = Field(
        default=None,
        description="Suspension or termination of the provision of the service (Art. 17(1)(c)).",
    )
    decision_account: DecisionAccount | None = Field(
        default=None,
        description="Suspension or termination of the recipient's account (Art. 17(1)(d)).",
    )

    # -- the ground (Art. 17(3)(d) and (e)) ---------------------------------------------------
    decision_ground: DecisionGround = Field(
        description="Illegal content, or content incompatible with the terms and conditions.",
    )
    illegal_content_legal_ground: ShortText | None = Field(
        default=None,
        description=(
            "The legal ground relied on; required if and only if decision_ground is "
            "DECISION_GROUND_ILLEGAL_CONTENT. At most 500 characters."
        ),
    )
    illegal_content_explanation: ExplanationText | None = Field(
        default=None,
        description=(
            "Why the content is considered illegal on that ground; required if and only if "
            "decision_ground is DECISION_GROUND_ILLEGAL_CONTENT. At most 2000 characters."
        ),
    )
    incompatible_content_ground: ShortText | None = Field(
        default=None,
        description=(
            "The contractual (terms and conditions) ground relied on; required if and only if "
            "decision_ground is DECISION_GROUND_INCOMPATIBLE_CONTENT. At most 500 characters."
        ),
    )
    incompatible_content_explanation: ExplanationText | None = Field(
        default=None,
        description=(
            "Why the content is incompatible with that ground; required if and only if "
            "decision_ground is DECISION_GROUND_INCOMPATIBLE_CONTENT. At most 2000 characters."
        ),
    )
    incompatible_content_illegal: YesNo | None = Field(
        default=None,
        description=(
            "Whether the incompatible content is also considered illegal; allowed only when "
            "decision_ground is DECISION_GROUND_INCOMPATIBLE_CONTENT."
        ),
    )

    # -- what the content is --------------------------------------------------------------
    content_type: Annotated[tuple[ContentType, ...], Field(min_length=1)] = Field(
        description="Types of the content concerned; at least one.",
    )
    content_type_other: ShortText | None = Field(
        default=None,
        description=(
            "Describes the content type; required if and only if content_type contains "
            "CONTENT_TYPE_OTHER. At most 500 characters."
        ),
    )
    category: DsaCategory = Field(description="Main category of the statement.")
    category_addition: tuple[DsaCategory, ...] | None = Field(
        default=None,
        description="Additional categories, from the same list as category.",
    )
    category_specification: tuple[Keyword, ...] | None = Field(
        default=None,
        description="Keywords specifying the category, each matching ^KEYWORD_[A-Z_]+$.",
    )
    territorial_scope: Annotated[tuple[Territory, ...], Field(min_length=1)] = Field(
        description=(
            "EU/EEA states where the decision applies (two-letter codes; Greece is GR, not EL)."
        ),
    )
    content_language: Language | None = Field(
        default=None,
        description="Language of the content: an upper-case ISO 639-1 code such as EN.",
    )

    # -- dates (Art. 17(3)(a)) ----------------------------------------------------------------
    content_date: ApiDate = Field(
        description="Date the content was posted or created, YYYY-MM-DD.",
    )
    application_date: ApiDate = Field(
        description="Date the decision took effect, YYYY-MM-DD; not before content_date.",
    )
    end_date_account_restriction: ApiDate | None = Field(
        default=None,
        description="End of the account restriction, YYYY-MM-DD, not before application_date; "
        "absent means indefinite.",
    )
    end_date_monetary_restriction: ApiDate | None = Field(
        default=None,
        description="End of the monetary restriction, YYYY-MM-DD, not before application_date; "
        "absent means indefinite.",
    )
    end_date_service_restriction: ApiDate | None = Field(
        default=None,
        description="End of the service restriction, YYYY-MM-DD, not before application_date; "
        "absent means indefinite.",
    )
    end_date_visibility_restriction: ApiDate | None = Field(
        default=None,
        description="End of the visibility restriction, YYYY-MM-DD, not before "
        "application_date; absent means indefinite.",
    )

    # -- facts, source, automation (Art. 17(3)(b) and (c)) ----------------------------------
    decision_facts: FactsText = Field(
        description="Facts and circumstances relied on in taking the decision; at most 5000.",
    )
    source_type: SourceType = Field(description="What the decision was taken on.")
    source_identity: ShortText | None = Field(
        default=None,
        description=(
            "Identity of the notifier, at most 500 characters. Forbidden for SOURCE_ARTICLE_16 "
            "so that the personal data of Article 16 notifiers never reaches the public database."
        ),
    )
    automated_detection: YesNo = Field(
        description="Whether the content was detected or identified by automated means.",
    )
    automated_decision: AutomatedDecision = Field(
        description="Whether, and how far, the decision was taken by automated means.",
    )
    puid: Puid = Field(
        description=(
            "Our unique identifier of this statement: letters, digits, '-' and '_', at most "
            "500 characters; must be unique per platform."
        ),
    )

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        problems = [*self._decision_problems(), *self._ground_problems(), *self._date_problems()]
        if ContentType.OTHER in self.content_type and self.content_type_other is None:
            problems.append("content_type_other is required when content_type contains OTHER")
        if ContentType.OTHER not in self.content_type and self.content_type_other is not None:
            problems.append("content_type_other is only allowed when content_type has OTHER")
        if self.source_type is SourceType.ARTICLE_16 and self.source_identity is not None:
            problems.append(
                "source_identity must not be sent for SOURCE_ARTICLE_16 (notifier privacy)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _decision_problems(self) -> list[str]:
        problems: list[str] = []
        if all(getattr(self, field.value) is None for field in DecisionField):
            problems.append(
                "at least one of decision_visibility, decision_monetary, decision_provision "
                "or decision_account is required"
            )
        visibility_other = DecisionVisibility.OTHER in (self.decision_visibility or ())
        if visibility_other != (self.decision_visibility_other is not None):
            problems.append(
                "decision_visibility_other is required when, and only when, "
                "decision_visibility contains DECISION_VISIBILITY_OTHER"
            )
        monetary_other = self.decision_monetary is DecisionMonetary.OTHER
        if monetary_other != (self.decision_monetary_other is not None):
            problems.append(
                "decision_monetary_other is required when, and only when, "
                "decision_monetary is DECISION_MONETARY_OTHER"
            )
        return problems

    def _ground_problems(self) -> list[str]:
        illegal = {
            "illegal_content_legal_ground": self.illegal_content_legal_ground,
            "illegal_content_explanation": self.illegal_content_explanation,
        }
        incompatible = {
            "incompatible_content_ground": self.incompatible_content_ground,
            "incompatible_content_explanation": self.incompatible_content_explanation,
        }
        if self.decision_ground is DecisionGround.ILLEGAL_CONTENT:
            required = illegal
            forbidden = {
                **incompatible,
                "incompatible_content_illegal": self.incompatible_content_illegal,
            }
        else:
            required, forbidden = incompatible, illegal
        ground = self.decision_ground.value
        missing = [name for name, value in required.items() if value is None]
        extra = [name for name, value in forbidden.items() if value is not None]
        return [f"{name} is required for {ground}" for name in missing] + [
            f"{name} is not allowed for {ground}" for name in extra
        ]

    def _date_problems(self) -> list[str]:
        problems: list[str] = []
        if self.application_date < self.content_date:
            problems.append("application_date must not be before content_date")
        for name in DECISION_END_DATE_FIELDS.values():
            end: date | None = getattr(self, name)
            if end is not None and end < self.application_date:
                problems.append(f"{name} must not be before application_date")
        return problems


class StatementBatch(BaseModel):
    """The body of ``POST /api/v1/statements``: 1 to 100 statements with distinct puids."""

    model_config = ConfigDict(extra="forbid")

    statements: list[StatementOfReasons] = Field(
        min_length=1,
        max_length=MAX_BATCH_SIZE,
        description="1 to 100 statements; the API rejects a call whose puids repeat.",
    )

    @model_validator(mode="after")
    def _check_unique_puids(self) -> Self:
        counts = Counter(statement.puid for statement in self.statements)
        repeated = sorted(puid for puid, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(f"puids repeat within the batch: {', '.join(repeated)}")
        return self


def batches(statements: Iterable[StatementOfReasons], size: int = 100) -> Iterator[StatementBatch]:
    """Split ``statements`` lazily into API batches of at most ``size`` (1..100) statements.

    Yields nothing for an empty iterable. Raises ``ValueError`` for a size outside 1..100, and
    ``pydantic.ValidationError`` when a batch would repeat a puid.
    """
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}, got {size}")
    iterator = iter(statements)
    while chunk := list(itertools.islice(iterator, size)):
        yield StatementBatch(statements=chunk)


# --------------------------------------------------------------------------------------------
# The JSON Schema
# --------------------------------------------------------------------------------------------

_SCHEMA_ID: Final = "urn:tns:enforcement:dsa-statement-of-reasons"
_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
_DATE_ORDER: Final[tuple[tuple[str, str], ...]] = (
    ("content_date", "application_date"),
    *(("application_date", end) for end in DECISION_END_DATE_FIELDS.values()),
)
# Digit positions of YYYY-MM-DD and the digits each can hold in a valid date.
_DATE_DIGITS: Final[tuple[tuple[int, str], ...]] = (
    (0, "0123456789"),
    (1, "0123456789"),
    (2, "0123456789"),
    (3, "0123456789"),
    (5, "01"),
    (6, "0123456789"),
    (8, "0123"),
    (9, "0123456789"),
)


def _describe(name: str) -> str:
    description = StatementOfReasons.model_fields[name].description
    assert description is not None, name
    return description


def _text(name: str, max_length: int) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": NON_BLANK_PATTERN,
        "description": _describe(name),
    }


def _one_of(name: str, values: Iterable[str]) -> dict[str, Any]:
    return {"type": "string", "enum": [str(v) for v in values], "description": _describe(name)}


def _array_of(name: str, values: Iterable[str], *, min_items: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "array",
        "items": {"type": "string", "enum": [str(v) for v in values]},
        "description": _describe(name),
    }
    if min_items:
        schema["minItems"] = min_items
    return schema


def _date(name: str) -> dict[str, Any]:
    return {"type": "string", "pattern": DATE_PATTERN, "description": _describe(name)}


def _has(name: str, value: str) -> dict[str, Any]:
    """Schema true when property ``name`` is present and equal to ``value``."""
    return {"required": [name], "properties": {name: {"const": value}}}


def _absent(*names: str) -> dict[str, Any]:
    return {"properties": dict.fromkeys(names, False)}


def _iff(condition: dict[str, Any], field: str) -> dict[str, Any]:
    """``field`` is required when ``condition`` holds and forbidden otherwise."""
    return {"if": condition, "then": {"required": [field]}, "else": _absent(field)}


def _date_not_before(earlier: str, later: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (rule, $defs) stating ``later >= earlier`` for two YYYY-MM-DD properties.

    JSON Schema cannot compare two values of one instance, but it can branch on the digits of
    one and constrain the digits of the other. ``{later}_from_{earlier}_{i}`` holds when the
    dates agree on their first ``i`` digits and ``later`` is not smaller from digit ``i`` on:
    for each possible digit ``d`` of ``earlier`` there, ``later`` must have a digit >= ``d``,
    and on a tie the next definition decides. Only one branch fires per level, so checking
    stays linear. It relies on both values matching DATE_PATTERN (checked separately).
    """
    defs: dict[str, Any] = {}
    names = [f"{later}_from_{earlier}_{level}" for level in range(len(_DATE_DIGITS))]
    for level, (position, digits) in enumerate(_DATE_DIGITS):
        branches: list[dict[str, Any]] = []
        for digit in digits:
            at_least = digit if digit == "9" else f"[{digit}-9]"
            then: dict[str, Any] = {
                "properties": {later: {"pattern": f"^.{{{position}}}{at_least}"}}
            }
            if level + 1 < len(names):
                then["if"] = {"properties": {later: {"pattern": f"^.{{{position}}}{digit}"}}}
                then["then"] = {"$ref": f"#/$defs/{names[level + 1]}"}
            branches.append(
                {
                    "if": {"properties": {earlier: {"pattern": f"^.{{{position}}}{digit}"}}},
                    "then": then,
                }
            )
        defs[names[level]] = {"allOf": branches}
    defs[names[0]]["$comment"] = f"{later} must not be before {earlier} (digit-wise comparison)."
    rule = {"if": {"required": [earlier, later]}, "then": {"$ref": f"#/$defs/{names[0]}"}}
    return rule, defs


def build_json_schema() -> dict[str, Any]:
    """Return the Draft 2020-12 JSON Schema of one statement of reasons.

    Hand-written to state every rule of :class:`StatementOfReasons`, including the
    conditional ones (``anyOf`` for the decision fields, ``if``/``then``/``else`` for the
    ``_OTHER`` texts, the decision grounds and Article 16 notifier privacy, and a digit-wise
    ``if``/``then`` chain for the date ordering). The committed ``sor_schema.json`` is this
    value; regenerate it with :func:`write_schema`.
    """
    visibility = [v.value for v in DecisionVisibility]
    categories = [c.value for c in DsaCategory]
    properties: dict[str, Any] = {
        "decision_visibility": _array_of("decision_visibility", visibility, min_items=1),
        "decision_visibility_other": _text("decision_visibility_other", SHORT_TEXT_MAX),
        "decision_monetary": _one_of("decision_monetary", DecisionMonetary),
        "decision_monetary_other": _text("decision_monetary_other", SHORT_TEXT_MAX),
        "decision_provision": _one_of("decision_provision", DecisionProvision),
        "decision_account": _one_of("decision_account", DecisionAccount),
        "decision_ground": _one_of("decision_ground", DecisionGround),
        "illegal_content_legal_ground": _text("illegal_content_legal_ground", SHORT_TEXT_MAX),
        "illegal_content_explanation": _text("illegal_content_explanation", EXPLANATION_MAX),
        "incompatible_content_ground": _text("incompatible_content_ground", SHORT_TEXT_MAX),
        "incompatible_content_explanation": _text(
            "incompatible_content_explanation", EXPLANATION_MAX
        ),
        "incompatible_content_illegal": _one_of("incompatible_content_illegal", YesNo),
        "content_type": _array_of("content_type", ContentType, min_items=1),
        "content_type_other": _text("content_type_other", SHORT_TEXT_MAX),
        "category": _one_of("category", categories),
        "category_addition": _array_of("category_addition", categories),
        "category_specification": {
            "type": "array",
            "items": {"type": "string", "pattern": KEYWORD_PATTERN},
            "description": _describe("category_specification"),
        },
        "territorial_scope": _array_of("territorial_scope", Territory, min_items=1),
        "content_language": _one_of("content_language", sorted(ISO_639_1_CODES)),
        "content_date": _date("content_date"),
        "application_date": _date("application_date"),
        **{name: _date(name) for name in DECISION_END_DATE_FIELDS.values()},
        "decision_facts": _text("decision_facts", FACTS_MAX),
        "source_type": _one_of("source_type", SourceType),
        "source_identity": _text("source_identity", SHORT_TEXT_MAX),
        "automated_detection": _one_of("automated_detection", YesNo),
        "automated_decision": _one_of("automated_decision", AutomatedDecision),
        "puid": {
            "type": "string",
            "maxLength": SHORT_TEXT_MAX,
            "pattern": PUID_PATTERN,
            "description": _describe("puid"),
        },
    }
    illegal = ["illegal_content_legal_ground", "illegal_content_explanation"]
    incompatible = ["incompatible_content_ground", "incompatible_content_explanation"]
    rules: list[dict[str, Any]] = [
        _iff(
            {
                "required": ["decision_visibility"],
                "properties": {
                    "decision_visibility": {"contains": {"const": DecisionVisibility.OTHER.value}}
                },
            },
            "decision_visibility_other",
        ),
        _iff(_has("decision_monetary", DecisionMonetary.OTHER.value), "decision_monetary_other"),
        _iff(
            {"properties": {"content_type": {"contains": {"const": ContentType.OTHER.value}}}},
            "content_type_other",
        ),
        {
            "if": _has("decision_ground", DecisionGround.ILLEGAL_CONTENT.value),
            "then": {"required": illegal, **_absent(*incompatible, "incompatible_content_illegal")},
        },
        {
            "if": _has("decision_ground", DecisionGround.INCOMPATIBLE_CONTENT.value),
            "then": {"required": incompatible, **_absent(*illegal)},
        },
        {
            "if": _has("source_type", SourceType.ARTICLE_16.value),
            "then": _absent("source_identity"),
        },
    ]
    defs: dict[str, Any] = {}
    for earlier, later in _DATE_ORDER:
        rule, chain = _date_not_before(earlier, later)
        rules.append(rule)
        defs.update(chain)
    return {
        "$schema": _DRAFT,
        "$id": _SCHEMA_ID,
        "title": "DSA Art. 17 statement of reasons",
        "description": (
            "One statement of reasons as POSTed to the DSA Transparency Database API. "
            "Generated by services.enforcement.sor.build_json_schema; do not edit by hand."
        ),
        "$comment": (
            "Patterns end in $(?!\\n) so that Python's re, where $ also matches before a "
            "trailing newline, agrees with ECMA-262."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": [
            "decision_ground",
            "content_type",
            "category",
            "territorial_scope",
            "content_date",
            "application_date",
            "decision_facts",
            "source_type",
            "automated_detection",
            "automated_decision",
            "puid",
        ],
        "properties": properties,
        "anyOf": [{"required": [field.value]} for field in DecisionField],
        "allOf": rules,
        "$defs": defs,
    }


def build_batch_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of the API body ``{"statements": [...]}`` (1 to 100 items).

    Embeds :func:`build_json_schema` (its ``$id`` keeps its ``$ref``\\ s resolving). Distinct
    puids within a batch cannot be expressed in JSON Schema; :class:`StatementBatch` checks it.
    """
    statement = build_json_schema()
    del statement["$schema"]
    return {
        "$schema": _DRAFT,
        "type": "object",
        "additionalProperties": False,
        "required": ["statements"],
        "properties": {
            "statements": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_SIZE,
                "items": statement,
            }
        },
    }


def write_schema(path: Path | str = SOR_SCHEMA_PATH) -> None:
    """Write :func:`build_json_schema` to ``path``: sorted keys, indent 2, trailing newline."""
    text = json.dumps(build_json_schema(), indent=2, sort_keys=True) + "\n"
    Path(path).write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The builder: our enforcement vocabulary -> a statement
# --------------------------------------------------------------------------------------------


class ActionDecision(NamedTuple):
    """The DSA decision field and value an action is recorded under."""

    field: DecisionField
    value: DecisionVisibility | DecisionMonetary | DecisionProvision | DecisionAccount
    other_text: str | None = None
    """Text for the ``_other`` companion field, when ``value`` is an ``_OTHER`` value."""


WARNING_DECISION_TEXT: Final = "Warning issued to the account holder"

ACTION_DECISION_FIELDS: Final[Mapping[ActionType, ActionDecision]] = MappingProxyType(
    {
        ActionType.REMOVE_CONTENT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_REMOVED
        ),
        ActionType.DISABLE_CONTENT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_DISABLED
        ),
        ActionType.DEMOTE_CONTENT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_DEMOTED
        ),
        ActionType.AGE_RESTRICT_CONTENT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_AGE_RESTRICTED
        ),
        ActionType.RESTRICT_INTERACTION: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_INTERACTION_RESTRICTED
        ),
        ActionType.LABEL_CONTENT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.CONTENT_LABELLED
        ),
        # A warning restricts nothing, so strictly Art. 17 does not require a statement. We
        # still record one, because the warning is a moderation decision the recipient can
        # contest and later restrictions build on it. The API has no "warning" value and needs
        # at least one decision field; visibility OTHER with an explicit text is the only
        # option that does not claim a restriction that did not happen.
        ActionType.WARN_ACCOUNT: ActionDecision(
            DecisionField.VISIBILITY, DecisionVisibility.OTHER, WARNING_DECISION_TEXT
        ),
        # Feature limits keep the account but withhold part of the service (Art. 17(1)(c)).
        ActionType.RESTRICT_ACCOUNT: ActionDecision(
            DecisionField.PROVISION, DecisionProvision.PARTIAL_SUSPENSION
        ),
        ActionType.SUSPEND_ACCOUNT: ActionDecision(
            DecisionField.ACCOUNT, DecisionAccount.SUSPENDED
        ),
        ActionType.TERMINATE_ACCOUNT: ActionDecision(
            DecisionField.ACCOUNT, DecisionAccount.TERMINATED
        ),
        ActionType.SUSPEND_MONETISATION: ActionDecision(
            DecisionField.MONETARY, DecisionMonetary.SUSPENSION
        ),
        ActionType.TERMINATE_MONETISATION: ActionDecision(
            DecisionField.MONETARY, DecisionMonetary.TERMINATION
        ),
    }
)
"""How each of our actions is recorded in the statement's decision fields."""

SOURCE_TYPE_MAPPING: Final[Mapping[Source, SourceType]] = MappingProxyType(
    {
        Source.USER_NOTICE: SourceType.ARTICLE_16,
        Source.TRUSTED_FLAGGER: SourceType.TRUSTED_FLAGGER,
        Source.AUTHORITY_ORDER: SourceType.OTHER_NOTIFICATION,
        Source.AUTOMATED_DETECTION: SourceType.VOLUNTARY,
        Source.INTERNAL: SourceType.VOLUNTARY,
    }
)
"""Our case sources to the API's source_type."""

CONTENT_TYPE_MAPPING: Final[Mapping[SubjectContentType, tuple[ContentType, str | None]]] = (
    MappingProxyType(
        {
            SubjectContentType.TEXT: (ContentType.TEXT, None),
            SubjectContentType.IMAGE: (ContentType.IMAGE, None),
            SubjectContentType.VIDEO: (ContentType.VIDEO, None),
            SubjectContentType.AUDIO: (ContentType.AUDIO, None),
            SubjectContentType.URL: (ContentType.OTHER, "URL"),
            SubjectContentType.ACCOUNT: (ContentType.OTHER, "Account"),
            SubjectContentType.OTHER: (ContentType.OTHER, "Other"),
        }
    )
)
"""Our content types to the API's content_type (and content_type_other text)."""

_ELLIPSIS: Final = "\u2026"
_ZWJ: Final = "\u200d"
_GREECE_EU_CODE: Final = "EL"


def _joins_previous(char: str) -> bool:
    """True for characters that belong to the preceding character's visible glyph."""
    return (
        unicodedata.category(char) in {"Mn", "Mc", "Me"}
        or char == _ZWJ
        or "\ufe00" <= char <= "\ufe0f"  # variation selectors
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # emoji skin-tone modifiers
    )


def _clip(text: str, limit: int) -> str:
    """Tidy free text and shorten it to at most ``limit`` characters; never raises.

    Lone surrogates become U+FFFD (they cannot be encoded as UTF-8 JSON), outer whitespace is
    dropped, and an over-long text is cut before any combining mark, joiner or modifier so
    no glyph is split, then marked with an ellipsis.
    """
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").strip()
    if len(text) <= limit:
        return text
    cut = limit - 1
    while cut > 0 and (_joins_previous(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    return text[:cut].rstrip() + _ELLIPSIS


def _required_text(name: str, text: str | None, limit: int) -> str:
    clipped = _clip(text or "", limit)
    if re.search(NON_BLANK_PATTERN, clipped) is None:
        raise ValueError(f"{name} must not be empty")
    return clipped


def _territories(codes: list[str] | None) -> list[str]:
    if codes is None:
        return [t.value for t in ALL_TERRITORIES]
    known = {t.value for t in Territory}
    scope: list[str] = []
    for code in codes:
        normalised = code.strip().upper()
        normalised = Territory.GR.value if normalised == _GREECE_EU_CODE else normalised
        if normalised in known and normalised not in scope:
            scope.append(normalised)
    if not scope:
        raise ValueError(f"territorial_scope has no EU/EEA state: {codes!r}")
    return scope


def _language(language: str | None) -> str | None:
    if language is None:
        return None
    primary = re.split(r"[-_]", language.strip(), maxsplit=1)[0].upper()
    return primary if primary in ISO_639_1_CODES else None


def _keywords(keywords: list[str] | None) -> list[str] | None:
    result: list[str] = []
    for keyword in keywords or ():
        body = re.sub(r"[^A-Z]+", "_", keyword.upper()).strip("_")
        if not body:
            continue
        normalised = body if body.startswith("KEYWORD_") else f"KEYWORD_{body}"
        if normalised not in result:
            result.append(normalised)
    return result or None


def _utc_date(moment: datetime) -> date:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def build_statement(
    *,
    puid: str,
    decision_ground: str,
    category: str,
    action: str,
    content_type: str,
    decided_at: datetime,
    content_date: date | None,
    facts: str,
    legal_ground: str | None,
    explanation: str,
    source: str,
    automated_detection: bool,
    automated_decision: str,
    territorial_scope: list[str] | None,
    language: str | None,
    end_date: date | None,
    keywords: list[str] | None,
) -> StatementOfReasons:
    """Build the statement of reasons for one enforcement decision. Pure; no I/O.

    ``decision_ground``, ``category`` and ``automated_decision`` take the API's values;
    ``action``, ``source`` and ``content_type`` take ours and are mapped through
    :data:`ACTION_DECISION_FIELDS`, :data:`SOURCE_TYPE_MAPPING` and
    :data:`CONTENT_TYPE_MAPPING`.

    * ``legal_ground`` is the law relied on for illegal content, or the terms-and-conditions
      clause for incompatible content; ``explanation`` goes with it. Both are required.
    * ``decided_at`` gives the application date (its UTC date; a naive value is taken as UTC).
      A missing ``content_date`` defaults to it, and a later one is clamped to it (clock skew:
      content cannot be posted after it was moderated).
    * ``end_date`` ends the restriction the action records (e.g. the account suspension); it
      is ignored for ``warn_account``, which restricts nothing.
    * ``territorial_scope`` defaults to the whole EU and EEA; codes are upper-cased, ``EL``
      becomes ``GR``, and states outside the EU/EEA are dropped (no statement covers them).
    * ``language`` may be any tag such as ``en-GB``; its primary subtag is kept when it is an
      ISO 639-1 code, otherwise the optional field is left out.
    * ``keywords`` are normalised to ``KEYWORD_*`` form and de-duplicated.
    * Free text is trimmed and cut to its limit (with an ellipsis) rather than rejected.

    Raises ``ValueError`` (``pydantic.ValidationError`` is one) for an unknown action, source
    or content type, blank facts/explanation/legal ground, a territorial scope with no EU/EEA
    state, an invalid puid, or an end date before the decision date.
    """
    our_action = ActionType(action)
    decision = ACTION_DECISION_FIELDS[our_action]
    ground = DecisionGround(decision_ground)
    dsa_content_type, content_type_other = CONTENT_TYPE_MAPPING[SubjectContentType(content_type)]
    application_date = _utc_date(decided_at)
    posted = application_date if content_date is None else min(content_date, application_date)

    data: dict[str, Any] = {
        "decision_ground": ground,
        "content_type": [dsa_content_type],
        "content_type_other": content_type_other,
        "category": category,
        "category_specification": _keywords(keywords),
        "territorial_scope": _territories(territorial_scope),
        "content_language": _language(language),
        "content_date": posted,
        "application_date": application_date,
        "decision_facts": _required_text("facts", facts, FACTS_MAX),
        "source_type": SOURCE_TYPE_MAPPING[Source(source)],
        "automated_detection": YesNo.YES if automated_detection else YesNo.NO,
        "automated_decision": automated_decision,
        "puid": puid,
    }
    if decision.field is DecisionField.VISIBILITY:
        data["decision_visibility"] = [decision.value]
    else:
        data[decision.field.value] = decision.value
    if decision.other_text is not None:
        data[f"{decision.field.value}_other"] = decision.other_text
    if end_date is not None and our_action is not ActionType.WARN_ACCOUNT:
        data[DECISION_END_DATE_FIELDS[decision.field]] = end_date

    ground_text = _required_text("legal_ground", legal_ground, SHORT_TEXT_MAX)
    explanation_text = _required_text("explanation", explanation, EXPLANATION_MAX)
    if ground is DecisionGround.ILLEGAL_CONTENT:
        data["illegal_content_legal_ground"] = ground_text
        data["illegal_content_explanation"] = explanation_text
    else:
        data["incompatible_content_ground"] = ground_text
        data["incompatible_content_explanation"] = explanation_text
    return StatementOfReasons.model_validate(data)
