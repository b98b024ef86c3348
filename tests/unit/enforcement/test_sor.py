"""Tests for the DSA Art. 17 statement of reasons model, schema and builder."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from services.enforcement.sor import (
    ACTION_DECISION_FIELDS,
    ALL_TERRITORIES,
    DECISION_END_DATE_FIELDS,
    SOR_SCHEMA_PATH,
    WARNING_DECISION_TEXT,
    AutomatedDecision,
    ContentType,
    DecisionField,
    DecisionGround,
    SourceType,
    StatementBatch,
    StatementOfReasons,
    Territory,
    batches,
    build_batch_json_schema,
    build_json_schema,
    build_statement,
    write_schema,
)
from services.enforcement.sor.decisions import facts
from shared.events import ActionType, Source, SourceKind
from shared.events import ContentType as SubjectContentType
from shared.taxonomy import DsaCategory
from tests.factories import make_decision

SCHEMA_VALIDATOR = Draft202012Validator(build_json_schema())
BATCH_VALIDATOR = Draft202012Validator(build_batch_json_schema())

Payload = dict[str, Any]
Mutation = Callable[[Payload], None]


def valid_payload() -> Payload:
    """A fresh, valid API-shaped statement."""
    return {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "Section 130 StGB (incitement to hatred)",
        "illegal_content_explanation": "The post calls for violence against a religious group.",
        "content_type": ["CONTENT_TYPE_TEXT"],
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "category_specification": ["KEYWORD_HATE_SPEECH"],
        "territorial_scope": ["DE", "AT"],
        "content_language": "DE",
        "content_date": "2025-01-10",
        "application_date": "2025-01-11",
        "decision_facts": "Reported by a trusted flagger; reviewed by a moderator.",
        "source_type": "SOURCE_TRUSTED_FLAGGER",
        "source_identity": "Example Trusted Flagger e.V.",
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": "case-2025_0001",
    }


def schema_errors(payload: Payload) -> list[str]:
    return [error.message for error in SCHEMA_VALIDATOR.iter_errors(payload)]


def assert_valid_both(payload: Payload) -> StatementOfReasons:
    statement = StatementOfReasons.model_validate(payload)
    assert schema_errors(payload) == []
    return statement


def assert_rejected_by_both(payload: Payload) -> None:
    with pytest.raises(ValidationError):
        StatementOfReasons.model_validate(payload)
    assert not SCHEMA_VALIDATOR.is_valid(payload)


def build_kwargs(**overrides: Any) -> dict[str, Any]:
    """Valid builder arguments, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {
        "puid": "case-42",
        "decision_ground": DecisionGround.INCOMPATIBLE_CONTENT,
        "category": DsaCategory.SCAMS_AND_FRAUD,
        "action": ActionType.REMOVE_CONTENT,
        "content_type": SubjectContentType.TEXT,
        "decided_at": datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
        "content_date": date(2025, 5, 30),
        "facts": "Classifier flagged a phishing message; a moderator confirmed it.",
        "legal_ground": "Terms of Service, section 4.2 (fraud)",
        "explanation": "The message impersonates a bank to collect credentials.",
        "source": Source.AUTOMATED_DETECTION,
        "automated_detection": True,
        "automated_decision": AutomatedDecision.PARTIALLY,
        "territorial_scope": None,
        "language": "en",
        "end_date": None,
        "keywords": None,
    }
    kwargs.update(overrides)
    return kwargs


def dump(statement: StatementOfReasons) -> Payload:
    return statement.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------------------------------------
# The model and the schema agree on valid statements
# ---------------------------------------------------------------------------------------------


def test_valid_payload_is_accepted_by_model_and_schema() -> None:
    assert_valid_both(valid_payload())


def test_model_dump_round_trips_to_the_exact_request_shape() -> None:
    payload = valid_payload()
    assert dump(StatementOfReasons.model_validate(payload)) == payload


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(build_json_schema())
    Draft202012Validator.check_schema(build_batch_json_schema())


def test_schema_properties_and_required_fields_match_the_model() -> None:
    schema = build_json_schema()
    fields = StatementOfReasons.model_fields
    assert set(schema["properties"]) == set(fields)
    assert set(schema["required"]) == {name for name, f in fields.items() if f.is_required()}


def test_schema_uses_anyof_for_the_decision_fields() -> None:
    assert build_json_schema()["anyOf"] == [{"required": [field.value]} for field in DecisionField]


def test_committed_schema_file_matches_build_json_schema(tmp_path: Path) -> None:
    assert json.loads(SOR_SCHEMA_PATH.read_text(encoding="utf-8")) == build_json_schema()
    regenerated = tmp_path / "sor_schema.json"
    write_schema(regenerated)
    assert regenerated.read_bytes() == SOR_SCHEMA_PATH.read_bytes(), (
        "sor_schema.json is stale: run services.enforcement.sor.write_schema()"
    )
    assert regenerated.read_text(encoding="utf-8").endswith("}\n")


def incompatible(payload: Payload) -> None:
    del payload["illegal_content_legal_ground"], payload["illegal_content_explanation"]
    payload["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    payload["incompatible_content_ground"] = "Community Guidelines, section 3"
    payload["incompatible_content_explanation"] = "Graphic violence without context."


def all_decisions(payload: Payload) -> None:
    payload["decision_visibility"] = [
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_OTHER",
    ]
    payload["decision_visibility_other"] = "Hidden from search"
    payload["decision_monetary"] = "DECISION_MONETARY_OTHER"
    payload["decision_monetary_other"] = "Ads revenue withheld for 30 days"
    payload["decision_provision"] = "DECISION_PROVISION_PARTIAL_SUSPENSION"
    payload["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
    payload["end_date_visibility_restriction"] = "2025-01-11"
    payload["end_date_monetary_restriction"] = "2025-02-10"
    payload["end_date_service_restriction"] = "2026-01-01"
    payload["end_date_account_restriction"] = "2025-12-31"


def only(field: str, value: str) -> Mutation:
    def mutate(payload: Payload) -> None:
        del payload["decision_visibility"]
        payload[field] = value

    return mutate


def setting(**values: Any) -> Mutation:
    def mutate(payload: Payload) -> None:
        payload.update(values)

    return mutate


def removing(*names: str) -> Mutation:
    def mutate(payload: Payload) -> None:
        for name in names:
            del payload[name]

    return mutate


def then(*mutations: Mutation) -> Mutation:
    def mutate(payload: Payload) -> None:
        for mutation in mutations:
            mutation(payload)

    return mutate


ACCEPTED: list[Any] = [
    pytest.param(incompatible, id="incompatible_content_ground"),
    pytest.param(
        then(incompatible, setting(incompatible_content_illegal="Yes")),
        id="incompatible_content_also_illegal",
    ),
    pytest.param(all_decisions, id="all_four_decision_fields_with_other_texts"),
    pytest.param(only("decision_monetary", "DECISION_MONETARY_SUSPENSION"), id="monetary_only"),
    pytest.param(
        only("decision_provision", "DECISION_PROVISION_TOTAL_TERMINATION"), id="provision_only"
    ),
    pytest.param(only("decision_account", "DECISION_ACCOUNT_TERMINATED"), id="account_only"),
    pytest.param(
        setting(content_type=["CONTENT_TYPE_OTHER", "CONTENT_TYPE_TEXT"], content_type_other="URL"),
        id="content_type_other_with_text",
    ),
    pytest.param(setting(application_date="2025-01-10"), id="same_day_decision"),
    pytest.param(
        setting(end_date_account_restriction="2025-01-11"), id="end_date_equal_to_application"
    ),
    pytest.param(
        setting(application_date="2025-12-31", end_date_account_restriction="2026-01-01"),
        id="end_date_across_year_boundary",
    ),
    pytest.param(setting(content_date="2024-02-29"), id="leap_day"),
    pytest.param(setting(content_date="2000-02-29"), id="leap_day_of_a_400_year"),
    pytest.param(removing("source_identity"), id="no_source_identity"),
    pytest.param(
        then(removing("source_identity"), setting(source_type="SOURCE_ARTICLE_16")),
        id="article_16_without_source_identity",
    ),
    pytest.param(
        setting(source_type="SOURCE_VOLUNTARY", source_identity="Internal audit"),
        id="voluntary_with_source_identity",
    ),
    pytest.param(
        removing("content_language", "category_specification"), id="optional_fields_absent"
    ),
    pytest.param(
        setting(category_addition=["STATEMENT_CATEGORY_VIOLENCE"]), id="category_addition"
    ),
    pytest.param(setting(puid="a" * 500), id="puid_of_500_characters"),
    pytest.param(setting(decision_facts="x" * 5000), id="facts_of_5000_characters"),
    pytest.param(setting(territorial_scope=[t.value for t in Territory]), id="all_of_eea"),
]


@pytest.mark.parametrize("mutate", ACCEPTED)
def test_valid_variants_are_accepted_by_model_and_schema(mutate: Mutation) -> None:
    payload = valid_payload()
    mutate(payload)
    assert_valid_both(payload)


# ---------------------------------------------------------------------------------------------
# Every rule is enforced by both validators
# ---------------------------------------------------------------------------------------------

REJECTED: list[Any] = [
    # decision grounds
    pytest.param(removing("illegal_content_legal_ground"), id="missing_illegal_legal_ground"),
    pytest.param(removing("illegal_content_explanation"), id="missing_illegal_explanation"),
    pytest.param(
        then(incompatible, removing("incompatible_content_ground")),
        id="missing_incompatible_content_ground",
    ),
    pytest.param(
        then(incompatible, removing("incompatible_content_explanation")),
        id="missing_incompatible_content_explanation",
    ),
    pytest.param(
        setting(incompatible_content_ground="ToS 1", incompatible_content_explanation="x"),
        id="incompatible_texts_with_illegal_ground",
    ),
    pytest.param(
        setting(incompatible_content_illegal="Yes"), id="incompatible_illegal_with_illegal_ground"
    ),
    pytest.param(
        then(incompatible, setting(illegal_content_legal_ground="StGB")),
        id="illegal_text_with_incompatible_ground",
    ),
    pytest.param(
        then(incompatible, setting(incompatible_content_illegal="maybe")),
        id="incompatible_illegal_not_yes_or_no",
    ),
    pytest.param(setting(decision_ground="DECISION_GROUND_OTHER"), id="unknown_ground"),
    pytest.param(
        setting(illegal_content_legal_ground="x" * 501), id="legal_ground_over_500_characters"
    ),
    pytest.param(
        setting(illegal_content_explanation="x" * 2001), id="explanation_over_2000_characters"
    ),
    # decisions and their OTHER texts
    pytest.param(removing("decision_visibility"), id="no_decision_field_at_all"),
    pytest.param(setting(decision_visibility=[]), id="empty_decision_visibility"),
    pytest.param(
        setting(decision_visibility=["DECISION_VISIBILITY_OTHER"]), id="visibility_other_no_text"
    ),
    pytest.param(
        setting(decision_visibility=["DECISION_VISIBILITY_OTHER"], decision_visibility_other=" "),
        id="visibility_other_blank_text",
    ),
    pytest.param(
        setting(decision_visibility=["DECISION_VISIBILITY_OTHER"], decision_visibility_other=None),
        id="visibility_other_null_text",
    ),
    pytest.param(setting(decision_visibility_other="x"), id="visibility_text_without_other"),
    pytest.param(
        setting(
            decision_visibility=["DECISION_VISIBILITY_OTHER"], decision_visibility_other="x" * 501
        ),
        id="visibility_other_text_over_500_characters",
    ),
    pytest.param(
        only("decision_monetary", "DECISION_MONETARY_OTHER"), id="monetary_other_without_text"
    ),
    pytest.param(
        then(
            only("decision_monetary", "DECISION_MONETARY_TERMINATION"),
            setting(decision_monetary_other="x"),
        ),
        id="monetary_text_without_other",
    ),
    pytest.param(
        setting(decision_monetary=["DECISION_MONETARY_SUSPENSION"]), id="monetary_is_not_an_array"
    ),
    pytest.param(
        setting(decision_visibility=["DECISION_VISIBILITY_CONTENT_HIDDEN"]), id="unknown_visibility"
    ),
    pytest.param(setting(decision_account="DECISION_ACCOUNT_BANNED"), id="unknown_account"),
    # content
    pytest.param(setting(content_type=["CONTENT_TYPE_OTHER"]), id="content_type_other_no_text"),
    pytest.param(setting(content_type_other="URL"), id="content_type_text_without_other"),
    pytest.param(setting(content_type=[]), id="empty_content_type"),
    pytest.param(setting(content_type="CONTENT_TYPE_TEXT"), id="content_type_not_an_array"),
    pytest.param(setting(category="STATEMENT_CATEGORY_SPAM"), id="unknown_category"),
    pytest.param(setting(category_addition=["VIOLENCE"]), id="unknown_category_addition"),
    pytest.param(setting(category_specification=["hate_speech"]), id="lower_case_keyword"),
    pytest.param(setting(category_specification=["KEYWORD_18_PLUS"]), id="keyword_with_digits"),
    pytest.param(setting(category_specification=["KEYWORD_X\n"]), id="keyword_trailing_newline"),
    # territory and language
    pytest.param(setting(territorial_scope=["EL"]), id="EL_instead_of_GR"),
    pytest.param(setting(territorial_scope=["de"]), id="lower_case_territory"),
    pytest.param(setting(territorial_scope=["UK"]), id="territory_outside_eea"),
    pytest.param(setting(territorial_scope=[]), id="empty_territorial_scope"),
    pytest.param(setting(content_language="de"), id="lower_case_language"),
    pytest.param(setting(content_language="XX"), id="not_an_iso_639_1_language"),
    pytest.param(setting(content_language="DEU"), id="three_letter_language"),
    # dates
    pytest.param(setting(application_date="2025-01-09"), id="application_before_content_date"),
    pytest.param(
        setting(content_date="2025-01-12", application_date="2024-12-31"),
        id="application_date_in_an_earlier_year",
    ),
    *[
        pytest.param(setting(**{field: "2025-01-10"}), id=f"{field}_before_application_date")
        for field in DECISION_END_DATE_FIELDS.values()
    ],
    pytest.param(
        setting(application_date="2025-12-31", end_date_account_restriction="2025-12-30"),
        id="end_date_one_day_early_at_year_end",
    ),
    pytest.param(setting(content_date="2025-1-10"), id="date_without_zero_padding"),
    pytest.param(setting(content_date="2025-02-30"), id="impossible_date"),
    pytest.param(setting(content_date="2023-02-29"), id="leap_day_of_a_common_year"),
    pytest.param(setting(content_date="1900-02-29"), id="leap_day_of_a_century"),
    pytest.param(setting(content_date="0000-01-01"), id="year_zero"),
    pytest.param(setting(content_date="2025-01-10T00:00:00"), id="datetime_instead_of_date"),
    pytest.param(setting(content_date="2025-01-10\n"), id="date_with_trailing_newline"),
    pytest.param(setting(content_date="20250110"), id="basic_iso_date"),
    pytest.param(setting(end_date_account_restriction=1736640000), id="timestamp_for_a_date"),
    # facts, source, automation, puid
    pytest.param(setting(decision_facts="x" * 5001), id="facts_over_5000_characters"),
    pytest.param(setting(decision_facts=" \n\t"), id="blank_facts"),
    pytest.param(setting(decision_facts=""), id="empty_facts"),
    pytest.param(setting(source_type="SOURCE_ARTICLE_16"), id="source_identity_with_article_16"),
    pytest.param(setting(source_identity="x" * 501), id="source_identity_over_500_characters"),
    pytest.param(setting(source_type="SOURCE_USER"), id="unknown_source_type"),
    pytest.param(setting(automated_detection=True), id="automated_detection_boolean"),
    pytest.param(setting(automated_detection="yes"), id="automated_detection_lower_case"),
    pytest.param(setting(automated_decision="AUTOMATED_DECISION_MAYBE"), id="unknown_automation"),
    pytest.param(setting(puid="case 1"), id="puid_with_space"),
    pytest.param(setting(puid="case/1"), id="puid_with_slash"),
    pytest.param(setting(puid="case.1"), id="puid_with_dot"),
    pytest.param(setting(puid=""), id="empty_puid"),
    pytest.param(setting(puid="a" * 501), id="puid_over_500_characters"),
    pytest.param(setting(puid="case-1\n"), id="puid_with_trailing_newline"),
    pytest.param(setting(puid="caseé1"), id="puid_with_non_ascii_letter"),
    # shape
    *[
        pytest.param(removing(name), id=f"missing_{name}")
        for name in (
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
        )
    ],
    pytest.param(setting(account_type="ACCOUNT_TYPE_PRIVATE"), id="unknown_field"),
]


@pytest.mark.parametrize("mutate", REJECTED)
def test_each_rule_is_rejected_by_model_and_schema(mutate: Mutation) -> None:
    payload = valid_payload()
    mutate(payload)
    assert_rejected_by_both(payload)


def test_date_ordering_schema_agrees_with_date_comparison_for_hand_picked_pairs() -> None:
    pairs = [
        ("2025-01-11", "2025-01-11"),
        ("2025-01-11", "2025-01-10"),
        ("2025-01-11", "2025-01-12"),
        ("2025-01-31", "2025-02-01"),
        ("2025-02-01", "2025-01-31"),
        ("2019-12-31", "2020-01-01"),
        ("2020-01-01", "2019-12-31"),
        ("1999-09-09", "2000-01-01"),
        ("9999-12-31", "9999-12-30"),
    ]
    for application, end in pairs:
        payload = valid_payload()
        payload["content_date"] = "0001-01-01"
        payload["application_date"] = application
        payload["end_date_service_restriction"] = end
        expected = end >= application
        assert SCHEMA_VALIDATOR.is_valid(payload) is expected, (application, end)


@settings(max_examples=300, deadline=None)
@given(
    earlier=st.dates(min_value=date(1, 1, 1)),
    later=st.dates(min_value=date(1, 1, 1)),
)
def test_date_ordering_is_judged_alike_by_model_schema_and_date_comparison(
    earlier: date, later: date
) -> None:
    payload = valid_payload()
    payload["content_date"] = earlier.isoformat()
    payload["application_date"] = later.isoformat()
    expected = later >= earlier
    assert SCHEMA_VALIDATOR.is_valid(payload) is expected
    try:
        StatementOfReasons.model_validate(payload)
    except ValidationError:
        assert not expected
    else:
        assert expected


def test_model_is_frozen_and_hashable() -> None:
    statement = assert_valid_both(valid_payload())
    with pytest.raises(ValidationError):
        statement.puid = "other"  # type: ignore[misc]
    assert hash(statement) == hash(StatementOfReasons.model_validate(valid_payload()))


def test_model_treats_explicit_none_as_absent() -> None:
    payload = valid_payload()
    payload["content_language"] = None
    assert "content_language" not in dump(StatementOfReasons.model_validate(payload))
    # The schema describes the serialised request, which never carries null.
    assert not SCHEMA_VALIDATOR.is_valid(payload)


def test_model_rejects_a_datetime_for_a_date_field() -> None:
    payload: Payload = valid_payload()
    payload["content_date"] = datetime(2025, 1, 10, tzinfo=UTC)
    with pytest.raises(ValidationError):
        StatementOfReasons.model_validate(payload)


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def numbered(count: int) -> list[StatementOfReasons]:
    return [
        StatementOfReasons.model_validate({**valid_payload(), "puid": f"case-{index}"})
        for index in range(count)
    ]


def test_batch_of_100_is_accepted_by_model_and_schema() -> None:
    batch = StatementBatch(statements=numbered(100))
    assert BATCH_VALIDATOR.is_valid(batch.model_dump(mode="json", exclude_none=True))


def test_batch_of_101_is_rejected_by_model_and_schema() -> None:
    statements = numbered(101)
    with pytest.raises(ValidationError):
        StatementBatch(statements=statements)
    body = {"statements": [dump(statement) for statement in statements]}
    assert not BATCH_VALIDATOR.is_valid(body)


def test_empty_batch_is_rejected_by_model_and_schema() -> None:
    with pytest.raises(ValidationError):
        StatementBatch(statements=[])
    assert not BATCH_VALIDATOR.is_valid({"statements": []})


def test_batch_schema_checks_each_statement() -> None:
    body = {"statements": [dump(numbered(1)[0]), {**valid_payload(), "puid": "a b"}]}
    assert not BATCH_VALIDATOR.is_valid(body)


def test_batch_with_repeated_puid_is_rejected() -> None:
    statement = numbered(1)[0]
    with pytest.raises(ValidationError, match="case-0"):
        StatementBatch(statements=[statement, statement])


def test_batches_split_into_chunks_of_at_most_size() -> None:
    sizes = [len(batch.statements) for batch in batches(iter(numbered(250)))]
    assert sizes == [100, 100, 50]
    assert [len(b.statements) for b in batches(numbered(5), size=2)] == [2, 2, 1]
    assert list(batches([])) == []


@pytest.mark.parametrize("size", [0, -1, 101])
def test_batches_reject_a_size_outside_1_to_100(size: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        next(batches(numbered(1), size=size))


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(ActionType))
def test_every_action_builds_a_statement_valid_for_model_and_schema(action: ActionType) -> None:
    statement = build_statement(**build_kwargs(action=action, end_date=date(2025, 7, 1)))
    payload = dump(statement)
    assert schema_errors(payload) == []
    assert StatementOfReasons.model_validate(payload) == statement

    decision = ACTION_DECISION_FIELDS[action]
    recorded = payload[decision.field.value]
    if decision.field is DecisionField.VISIBILITY:
        assert recorded == [decision.value]
    else:
        assert recorded == decision.value
    decision_fields = {field.value for field in DecisionField}
    assert decision_fields & set(payload) == {decision.field.value}
    end_fields = {name: payload.get(name) for name in DECISION_END_DATE_FIELDS.values()}
    expected_end = None if action is ActionType.WARN_ACCOUNT else "2025-07-01"
    assert end_fields.pop(DECISION_END_DATE_FIELDS[decision.field]) == expected_end
    assert set(end_fields.values()) == {None}


def test_every_action_has_a_decision_mapping() -> None:
    assert set(ACTION_DECISION_FIELDS) == set(ActionType)


def test_warn_account_is_recorded_as_visibility_other_with_its_text() -> None:
    payload = dump(build_statement(**build_kwargs(action="warn_account")))
    assert payload["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    assert payload["decision_visibility_other"] == WARNING_DECISION_TEXT
    assert payload["decision_visibility_other"] == "Warning issued to the account holder"


@pytest.mark.parametrize(
    ("action", "field", "value"),
    [
        ("restrict_account", "decision_provision", "DECISION_PROVISION_PARTIAL_SUSPENSION"),
        ("suspend_account", "decision_account", "DECISION_ACCOUNT_SUSPENDED"),
        ("terminate_account", "decision_account", "DECISION_ACCOUNT_TERMINATED"),
        ("suspend_monetisation", "decision_monetary", "DECISION_MONETARY_SUSPENSION"),
        ("terminate_monetisation", "decision_monetary", "DECISION_MONETARY_TERMINATION"),
        ("disable_content", "decision_visibility", ["DECISION_VISIBILITY_CONTENT_DISABLED"]),
        ("label_content", "decision_visibility", ["DECISION_VISIBILITY_CONTENT_LABELLED"]),
    ],
)
def test_account_and_monetisation_actions_map_to_their_dsa_field(
    action: str, field: str, value: object
) -> None:
    assert dump(build_statement(**build_kwargs(action=action)))[field] == value


@pytest.mark.parametrize(
    ("source", "source_type"),
    [
        ("user_notice", SourceType.ARTICLE_16),
        ("trusted_flagger", SourceType.TRUSTED_FLAGGER),
        ("authority_order", SourceType.OTHER_NOTIFICATION),
        ("automated_detection", SourceType.VOLUNTARY),
        ("internal", SourceType.VOLUNTARY),
    ],
)
def test_sources_map_to_dsa_source_types_without_identity(
    source: str, source_type: SourceType
) -> None:
    payload = dump(build_statement(**build_kwargs(source=source)))
    assert payload["source_type"] == source_type
    assert "source_identity" not in payload


@pytest.mark.parametrize(
    ("source", "kind", "source_type"),
    [
        ("user_notice", "advertiser", SourceType.OTHER_NOTIFICATION),
        ("authority_order", "law_enforcement", SourceType.OTHER_NOTIFICATION),
        ("authority_order", "regulator", SourceType.OTHER_NOTIFICATION),
        ("authority_order", "legal_order", SourceType.OTHER_NOTIFICATION),
        ("user_notice", None, SourceType.ARTICLE_16),
    ],
)
def test_registered_kinds_of_source_map_to_their_dsa_source_type(
    source: str, kind: str | None, source_type: SourceType
) -> None:
    payload = dump(build_statement(**build_kwargs(source=source, source_kind=kind)))
    assert payload["source_type"] == source_type


def test_statement_facts_name_the_registered_kind_of_sender() -> None:
    decision = make_decision().payload
    referral = decision.model_copy(
        update={"source": Source.AUTHORITY_ORDER, "source_kind": SourceKind.LAW_ENFORCEMENT}
    )
    assert "a referral from a law enforcement authority" in facts(
        referral, ActionType.REMOVE_CONTENT
    )
    assert "a notice from a user" in facts(
        decision.model_copy(update={"source": Source.USER_NOTICE}), ActionType.REMOVE_CONTENT
    )


@pytest.mark.parametrize(
    ("content_type", "expected", "other"),
    [
        ("text", "CONTENT_TYPE_TEXT", None),
        ("image", "CONTENT_TYPE_IMAGE", None),
        ("video", "CONTENT_TYPE_VIDEO", None),
        ("audio", "CONTENT_TYPE_AUDIO", None),
        ("url", "CONTENT_TYPE_OTHER", "URL"),
        ("account", "CONTENT_TYPE_OTHER", "Account"),
        ("other", "CONTENT_TYPE_OTHER", "Other"),
    ],
)
def test_content_types_map_to_dsa_content_types(
    content_type: str, expected: str, other: str | None
) -> None:
    payload = dump(build_statement(**build_kwargs(content_type=content_type)))
    assert payload["content_type"] == [expected]
    assert payload.get("content_type_other") == other


def test_builder_puts_legal_ground_and_explanation_under_the_decision_ground() -> None:
    illegal = dump(
        build_statement(**build_kwargs(decision_ground="DECISION_GROUND_ILLEGAL_CONTENT"))
    )
    assert illegal["illegal_content_legal_ground"] == "Terms of Service, section 4.2 (fraud)"
    assert "incompatible_content_ground" not in illegal
    compatible = dump(build_statement(**build_kwargs()))
    assert compatible["incompatible_content_ground"] == "Terms of Service, section 4.2 (fraud)"
    assert compatible["incompatible_content_explanation"].startswith("The message impersonates")
    assert "illegal_content_legal_ground" not in compatible


def test_builder_output_is_exactly_the_api_request_shape() -> None:
    statement = build_statement(
        **build_kwargs(
            action="suspend_account",
            content_type="url",
            decided_at=datetime(2025, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            source="user_notice",
            automated_detection=False,
            automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
            territorial_scope=["fr", "el", "US", "FR"],
            language="pt_BR",
            end_date=date(2025, 9, 1),
            keywords=["phishing", "KEYWORD_SCAM", "phishing"],
        )
    )
    assert dump(statement) == {
        "decision_account": "DECISION_ACCOUNT_SUSPENDED",
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": "Terms of Service, section 4.2 (fraud)",
        "incompatible_content_explanation": (
            "The message impersonates a bank to collect credentials."
        ),
        "content_type": ["CONTENT_TYPE_OTHER"],
        "content_type_other": "URL",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "category_specification": ["KEYWORD_PHISHING", "KEYWORD_SCAM"],
        "territorial_scope": ["FR", "GR"],
        "content_language": "PT",
        "content_date": "2025-05-30",
        "application_date": "2025-06-02",
        "end_date_account_restriction": "2025-09-01",
        "decision_facts": "Classifier flagged a phishing message; a moderator confirmed it.",
        "source_type": "SOURCE_ARTICLE_16",
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": "case-42",
    }


def test_builder_defaults_territorial_scope_to_all_eu_and_eea_states() -> None:
    payload = dump(build_statement(**build_kwargs(territorial_scope=None)))
    assert payload["territorial_scope"] == [t.value for t in ALL_TERRITORIES]
    assert len(payload["territorial_scope"]) == 30
    assert {"GR", "IS", "LI", "NO"} <= set(payload["territorial_scope"])
    assert "EL" not in payload["territorial_scope"]


def test_builder_rejects_a_scope_without_any_eu_or_eea_state() -> None:
    with pytest.raises(ValueError, match="no EU/EEA state"):
        build_statement(**build_kwargs(territorial_scope=["US", "GB"]))


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "EN"), ("en-GB", "EN"), ("pt_BR", "PT"), ("DE", "DE"), ("xx", None), (None, None)],
)
def test_builder_normalises_language_or_leaves_it_out(
    language: str | None, expected: str | None
) -> None:
    payload = dump(build_statement(**build_kwargs(language=language)))
    assert payload.get("content_language") == expected


def test_builder_normalises_keywords() -> None:
    payload = dump(
        build_statement(**build_kwargs(keywords=["hate speech", "KEYWORD_HATE_SPEECH", "18+", ""]))
    )
    assert payload["category_specification"] == ["KEYWORD_HATE_SPEECH"]
    assert "category_specification" not in dump(build_statement(**build_kwargs(keywords=[])))


def test_builder_uses_the_utc_date_of_naive_and_aware_decision_times() -> None:
    late_in_new_york = datetime(2025, 6, 1, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    early_in_tokyo = datetime(2025, 6, 2, 1, 0, tzinfo=timezone(timedelta(hours=9)))
    naive = datetime(2025, 6, 1, 23, 59)
    dates = [
        build_statement(**build_kwargs(decided_at=moment)).application_date
        for moment in (late_in_new_york, early_in_tokyo, naive)
    ]
    assert dates == [date(2025, 6, 2), date(2025, 6, 1), date(2025, 6, 1)]


def test_builder_defaults_and_clamps_content_date_to_the_decision_date() -> None:
    missing = build_statement(**build_kwargs(content_date=None))
    assert missing.content_date == missing.application_date == date(2025, 6, 1)
    future = build_statement(**build_kwargs(content_date=date(2025, 6, 3)))
    assert future.content_date == date(2025, 6, 1)


def test_builder_truncates_long_free_text_to_the_api_limits() -> None:
    statement = build_statement(
        **build_kwargs(facts="f" * 9000, legal_ground="g" * 900, explanation="e" * 3000)
    )
    assert statement.decision_facts == "f" * 4999 + "\u2026"
    assert statement.incompatible_content_ground == "g" * 499 + "\u2026"
    assert statement.incompatible_content_explanation == "e" * 1999 + "\u2026"
    assert schema_errors(dump(statement)) == []


def test_builder_truncation_does_not_split_a_letter_from_its_accent() -> None:
    facts = "e\u0301" * 3000  # 6000 code points: "e" + combining acute accent
    clipped = build_statement(**build_kwargs(facts=facts)).decision_facts
    assert len(clipped) <= 5000
    assert clipped.endswith("e\u0301\u2026")


def test_builder_truncation_does_not_split_an_emoji_sequence() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points
    clipped = build_statement(**build_kwargs(facts="x" * 4997 + family)).decision_facts
    assert clipped == "x" * 4997 + "\u2026"


def test_builder_replaces_lone_surrogates_and_trims_whitespace() -> None:
    statement = build_statement(**build_kwargs(facts="  bad \udcff byte \n"))
    assert statement.decision_facts == "bad \ufffd byte"
    json.dumps(dump(statement)).encode("utf-8")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"facts": "   "}, "facts"),
        ({"explanation": ""}, "explanation"),
        ({"legal_ground": None}, "legal_ground"),
        ({"action": "shadow_ban"}, "shadow_ban"),
        ({"source": "rumour"}, "rumour"),
        ({"content_type": "hologram"}, "hologram"),
        ({"decision_ground": "DECISION_GROUND_VIBES"}, "DECISION_GROUND_VIBES"),
        ({"category": "STATEMENT_CATEGORY_SPAM"}, "category"),
        ({"puid": "case 42"}, "puid"),
        ({"end_date": date(2025, 5, 31)}, "end_date_visibility_restriction"),
    ],
)
def test_builder_rejects_inputs_it_cannot_turn_into_a_valid_statement(
    override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_statement(**build_kwargs(**override))


NON_BLANK_TEXT = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() != "")


@st.composite
def long_or_short_text(draw: st.DrawFn) -> str:
    """Non-blank text, sometimes far over any API limit."""
    return draw(NON_BLANK_TEXT) * draw(st.sampled_from([1, 2, 60, 1500]))


@st.composite
def builder_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid keyword arguments for build_statement."""
    offsets = st.sampled_from([0, -14, -5, 1, 9, 14])
    decided_at = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
    )
    offset = draw(st.none() | offsets)
    if offset is not None:
        decided_at = decided_at.replace(tzinfo=timezone(timedelta(hours=offset)))
    decided_on = (
        decided_at.astimezone(UTC).date() if decided_at.tzinfo is not None else decided_at.date()
    )
    eea_codes = [t.value for t in Territory] + ["el", "de", "Gr"]
    return {
        "puid": draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)),
        "decision_ground": draw(st.sampled_from(list(DecisionGround))),
        "category": draw(st.sampled_from(list(DsaCategory))),
        "action": draw(st.sampled_from([a.value for a in ActionType])),
        "content_type": draw(st.sampled_from([c.value for c in SubjectContentType])),
        "decided_at": decided_at,
        "content_date": draw(
            st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
        ),
        "facts": draw(long_or_short_text()),
        "legal_ground": draw(long_or_short_text()),
        "explanation": draw(long_or_short_text()),
        "source": draw(st.sampled_from([s.value for s in Source])),
        "automated_detection": draw(st.booleans()),
        "automated_decision": draw(st.sampled_from(list(AutomatedDecision))),
        "territorial_scope": draw(
            st.none()
            | st.lists(st.sampled_from(eea_codes), min_size=1, max_size=5).map(
                lambda codes: [*codes, "US"]
            )
            | st.lists(st.sampled_from(eea_codes), min_size=1, max_size=31)
        ),
        "language": draw(st.none() | st.sampled_from(["en", "de-AT", "pt_BR", "EL", "xx", ""])),
        "end_date": draw(
            st.none()
            | st.integers(min_value=0, max_value=3650).map(lambda n: decided_on + timedelta(n))
        ),
        "keywords": draw(st.none() | st.lists(st.text(max_size=20), max_size=4)),
    }


@settings(max_examples=200, deadline=None)
@given(inputs=builder_inputs())
def test_statements_built_from_random_valid_inputs_always_validate(
    inputs: dict[str, Any],
) -> None:
    statement = build_statement(**inputs)
    payload = dump(statement)
    assert schema_errors(payload) == []
    assert StatementOfReasons.model_validate(payload) == statement
    assert ContentType(payload["content_type"][0])
    assert json.loads(json.dumps(payload)) == payload
