"""Enforcement's tables (schema ``enforcement``).

Categorical columns are text (the enum values of ``shared.events``), timestamps are UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.apikeys import api_keys_table
from shared.db import processed_events_table

SCHEMA = "enforcement"
metadata = MetaData(schema=SCHEMA)

processed_events = processed_events_table(metadata)
api_keys = api_keys_table(metadata)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", UUID(as_uuid=True), primary_key=True),
    Column("report_id", UUID(as_uuid=True), nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("owner_account_id", Text),
    Column("content_type", Text),
    Column("policy_area", Text, nullable=False),
    Column("dsa_category", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("action", Text),
    Column("decided_by", Text, nullable=False),
    Column("actor_kind", Text, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("versions", JSONB, nullable=False),
    Column("reason", Text, nullable=False),
    Column("score", Float),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("case_id", UUID(as_uuid=True)),
    Column("report_ids", ARRAY(UUID(as_uuid=True))),
    Column("appeal_id", UUID(as_uuid=True), comment="set on the decision of an appeal"),
    # When the affected user and the notifiers were told: the appeal window runs from here.
    Column("communicated_at", DateTime(timezone=True)),
    # The product client that owns the decision and everything it produced (NULL: unknown).
    Column("client_id", Text),
    # When the earliest report the decision settles was received (NULL: not known).
    Column("received_at", DateTime(timezone=True)),
    Index("ix_decisions_subject", "subject_id"),
    Index("ix_decisions_report", "report_id"),
)

actions = Table(
    "actions",
    metadata,
    Column("action_id", UUID(as_uuid=True), primary_key=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False),
    Column("report_id", UUID(as_uuid=True), nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    # The ledger state: requested, issued, applied, failed, reversed.
    Column("status", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("content_type", Text),
    Column("owner_account_id", Text),
    Column("dsa_category", Text),
    Column("decided_by", Text),
    Column("reason", Text),
    Column("correlation_id", UUID(as_uuid=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("territorial_scope", ARRAY(Text)),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("applied_at", DateTime(timezone=True)),
    Column("failed_at", DateTime(timezone=True)),
    Column("reversed_at", DateTime(timezone=True)),
    Column("detail", Text),
    Column("client_id", Text),
    UniqueConstraint("decision_id", "action", name="uq_actions_decision_action"),
    Index("ix_actions_subject", "subject_id"),
)

strikes = Table(
    "strikes",
    metadata,
    Column("strike_id", UUID(as_uuid=True), primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("policy_area", Text, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("reversed_at", DateTime(timezone=True)),
    Column("client_id", Text),
    Index("ix_strikes_account", "account_id", "expires_at"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("evidence_id", UUID(as_uuid=True), primary_key=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("subject_id", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("refs", ARRAY(Text), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("retain_until", DateTime(timezone=True), nullable=False),
    Column("hold_until", DateTime(timezone=True)),
    Column("hold_reason", Text),
)

legal_reports = Table(
    "legal_reports",
    metadata,
    Column("legal_report_id", UUID(as_uuid=True), primary_key=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("account_id", Text),
    Column("evidence_refs", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
)

statements = Table(
    "statements_of_reasons",
    metadata,
    Column("puid", Text, primary_key=True),
    Column("action_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False),
    Column("statement", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The outbox: pending until the Transparency Database took it (submitted), said it already
    # had it (duplicate) or refused it (rejected, with the error).
    Column("submission_status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("submitted_at", DateTime(timezone=True)),
    Column("last_error", Text),
)

appeals = Table(
    "appeals",
    metadata,
    Column("appeal_id", UUID(as_uuid=True), primary_key=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False),
    Column("appellant", Text, nullable=False),
    Column("lodged_by", Text, nullable=False),
    Column("statement", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("original_outcome", Text, nullable=False),
    Column("original_action", Text),
    Column("original_reviewer_id", Text),
    Column("lodged_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("appeal_decision_id", UUID(as_uuid=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", Text),
    Column("client_id", Text),
    UniqueConstraint("decision_id", "appellant", name="uq_appeals_decision_appellant"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor_kind", Text, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("act", Text, nullable=False),
    Column("subject_id", Text),
    Column("report_id", UUID(as_uuid=True)),
    Column("decision_id", UUID(as_uuid=True)),
    Column("action_id", UUID(as_uuid=True)),
    Column("details", JSONB, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("case_id", UUID(as_uuid=True)),
    # The decision's client: who may read the row. Not hashed: it follows from decision_id,
    # which is, and rows written before the column existed were given it afterwards.
    Column("client_id", Text),
    Index("ix_audit_subject_seq", "subject_id", "seq"),
    Index("ix_audit_report", "report_id"),
    Index("ix_audit_case", "case_id", "seq", postgresql_where=text("case_id IS NOT NULL")),
    Index("ix_audit_actor", "actor_id", "seq"),
    Index("ix_audit_recorded_at", "recorded_at", postgresql_using="brin"),
    Index("ix_audit_decision", "decision_id"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("head_seq", BigInteger, primary_key=True),
    Column("head_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
