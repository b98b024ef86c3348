"""The JSON Schema export: a hand-written Draft 2020-12 schema of the model's rules.

Committed as ``sor_schema.json`` next to this package; regenerate with :func:`write_schema`.
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from services.enforcement.sor.model import StatementOfReasons
from services.enforcement.sor.vocab import (
    DATE_PATTERN,
    DECISION_END_DATE_FIELDS,
    EXPLANATION_MAX,
    FACTS_MAX,
    ISO_639_1_CODES,
    KEYWORD_PATTERN,
    MAX_BATCH_SIZE,
    NON_BLANK_PATTERN,
    PUID_PATTERN,
    SHORT_TEXT_MAX,
    AutomatedDecision,
    ContentType,
    DecisionAccount,
    DecisionField,
    DecisionGround,
    DecisionMonetary,
    DecisionProvision,
    DecisionVisibility,
    SourceType,
    Territory,
    YesNo,
)
from shared.taxonomy import DsaCategory

SOR_SCHEMA_PATH: Final[Path] = Path(__file__).parent.with_name("sor_schema.json")
"""Where the committed JSON Schema lives (``services/enforcement/sor_schema.json``)."""

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
