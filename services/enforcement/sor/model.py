"""The statement-of-reasons model: one statement, and the API's batch of statements."""

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.enforcement.sor.vocab import (
    DECISION_END_DATE_FIELDS,
    MAX_BATCH_SIZE,
    ApiDate,
    AutomatedDecision,
    ContentType,
    DecisionAccount,
    DecisionField,
    DecisionGround,
    DecisionMonetary,
    DecisionProvision,
    DecisionVisibility,
    ExplanationText,
    FactsText,
    Keyword,
    Language,
    Puid,
    ShortText,
    SourceType,
    Territory,
    YesNo,
)
from shared.taxonomy import DsaCategory

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
