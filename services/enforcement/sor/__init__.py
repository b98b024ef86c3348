"""DSA Art. 17 statements of reasons (SoR) for the Commission's Transparency Database API.

Three layers, all describing the same request shape, each in its own module
(``vocab`` holds the DSA vocabularies and field types they share):

* :class:`StatementOfReasons` (``model``) -- the pydantic v2 model. ``model_dump(mode="json",
  exclude_none=True)`` is exactly one element of the API's ``{"statements": [...]}`` body.
* :func:`build_json_schema` (``schema``) -- a hand-written Draft 2020-12 JSON Schema of the
  same rules, committed as ``services/enforcement/sor_schema.json`` (regenerate with
  :func:`write_schema`).
* :func:`build_statement` (``mapping``) -- a pure builder from our enforcement vocabulary
  (actions, sources, content types) to a validated statement; :class:`StatementBuilder`
  (``decisions``) fills it from a decision and the policy file.

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

from services.enforcement.sor.decisions import StatementBuilder, puid_for
from services.enforcement.sor.mapping import (
    ACTION_DECISION_FIELDS,
    CONTENT_TYPE_MAPPING,
    SOURCE_TYPE_MAPPING,
    WARNING_DECISION_TEXT,
    ActionDecision,
    build_statement,
)
from services.enforcement.sor.model import (
    StatementBatch,
    StatementOfReasons,
    batches,
)
from services.enforcement.sor.schema import (
    SOR_SCHEMA_PATH,
    build_batch_json_schema,
    build_json_schema,
    write_schema,
)
from services.enforcement.sor.vocab import (
    ALL_TERRITORIES,
    DATE_PATTERN,
    DECISION_END_DATE_FIELDS,
    ISO_639_1_CODES,
    KEYWORD_PATTERN,
    MAX_BATCH_SIZE,
    PUID_PATTERN,
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
    "StatementBuilder",
    "StatementOfReasons",
    "Territory",
    "YesNo",
    "batches",
    "build_batch_json_schema",
    "build_json_schema",
    "build_statement",
    "puid_for",
    "write_schema",
]
