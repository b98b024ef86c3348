"""Router's tables (schema ``router``): routings, cases and their reports, review activity,
shadow outcomes, QA reviews and reviewers' API keys."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.apikeys import api_keys_table
from shared.db import processed_events_table

SCHEMA = "router"
metadata = MetaData(schema=SCHEMA)

processed_events = processed_events_table(metadata)
api_keys = api_keys_table(metadata)

routings = Table(
    "routings",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("subject_id", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("tier", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # action | dismiss | review
    Column("score", Float, nullable=False),
    Column("queue", Text),
    Column("priority", Integer),
    Column("deadline", DateTime(timezone=True)),
    Column("policy_version", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("routed_at", DateTime(timezone=True), nullable=False),
    Column("case_id", UUID(as_uuid=True)),
    Column("reason", Text),
    # The classified report as routed, so review tasks, QA and appeals can show it later.
    Column("payload", JSONB),
    Index("ix_routings_queue_deadline", "queue", "deadline"),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("kind", Text, nullable=False),  # report | appeal | qa
    Column("subject_id", Text, nullable=False),
    Column("subject", JSONB, nullable=False),
    Column("source", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("tier", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("status", Text, nullable=False),  # open | awaiting_confirmation | decided
    Column("priority", Integer, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("policy_version", Text, nullable=False),
    Column("first_report_id", UUID(as_uuid=True), nullable=False),
    Column("report_count", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("lease_holder", Text),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("excluded_reviewers", ARRAY(Text), nullable=False),
    Column("proposal", JSONB),
    Column("proposed_by", Text),
    Column("first_decided_at", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", Text),
    Column("confirmed_by", Text),
    Column("outcome", Text),
    Column("action", Text),
    Column("decision_id", UUID(as_uuid=True)),
    Column("appeal", JSONB),
    Column("qa_of", JSONB),
)

case_reports = Table(
    "case_reports",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("linked_at", DateTime(timezone=True), nullable=False),
)

case_activity = Table(
    "case_activity",
    metadata,
    Column("activity_id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reviewer_id", Text, nullable=False),
    Column("act", Text, nullable=False),  # claim | release | escalate | note | decide | confirm
    Column("detail", Text, nullable=False),
)

shadow_outcomes = Table(
    "shadow_outcomes",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("shadow_version", Text, primary_key=True),
    Column("live_version", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("live_outcome", Text, nullable=False),
    Column("shadow_outcome", Text, nullable=False),
    Column("live_queue", Text),
    Column("shadow_queue", Text),
    Column("score", Float, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

qa_reviews = Table(
    "qa_reviews",
    metadata,
    Column("qa_case_id", UUID(as_uuid=True), primary_key=True),
    Column("original_decision_id", UUID(as_uuid=True), nullable=False),
    Column("decided_by", Text, nullable=False),  # automated | human
    Column("original_actor", Text, nullable=False),  # reviewer id or router:<policy version>
    Column("rule", Text, nullable=False),
    Column("policy_version", Text, nullable=False),
    Column("model_versions", JSONB, nullable=False),
    Column("original_outcome", Text, nullable=False),
    Column("original_action", Text),
    Column("qa_reviewer", Text, nullable=False),
    Column("qa_outcome", Text, nullable=False),
    Column("qa_action", Text),
    Column("agree", Boolean, nullable=False),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
)
