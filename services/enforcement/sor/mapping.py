"""The mapping from our enforcement vocabulary (actions, sources, content types) to a statement."""

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from services.enforcement.sor.model import StatementOfReasons
from services.enforcement.sor.vocab import (
    ALL_TERRITORIES,
    DECISION_END_DATE_FIELDS,
    EXPLANATION_MAX,
    FACTS_MAX,
    ISO_639_1_CODES,
    NON_BLANK_PATTERN,
    SHORT_TEXT_MAX,
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
from shared.events import ActionType, Source, SourceKind
from shared.events import ContentType as SubjectContentType

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
    source_kind: str | None = None,
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
    * ``source_kind`` is the registered kind of sender, finer than ``source``: an advertiser's
      (brand-safety) complaint travels as a user notice but is no Art. 16 notice, so its
      ``source_type`` is ``SOURCE_TYPE_OTHER_NOTIFICATION``.
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
        "source_type": (
            SourceType.OTHER_NOTIFICATION
            if source_kind == SourceKind.ADVERTISER.value
            else SOURCE_TYPE_MAPPING[Source(source)]
        ),
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
