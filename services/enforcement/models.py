"""Enforcement's tables (schema ``enforcement``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db import processed_events_table

SCHEMA = "enforcement"
metadata = MetaData(schema=SCHEMA)

processed_events = processed_events_table(metadata)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", UUID(as_uuid=True), primary_key=True),
    Column("report_id", UUID(as_uuid=True), nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("owner_account_id", Text),
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
    Column("status", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("decision_id", "action", name="uq_actions_decision_action"),
    Index("ix_actions_subject", "subject_id"),
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
    Index("ix_audit_subject_seq", "subject_id", "seq"),
    Index("ix_audit_report", "report_id"),
)
