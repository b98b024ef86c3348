"""Intake's tables (schema ``intake``)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.apikeys import api_keys_table

SCHEMA = "intake"
metadata = MetaData(schema=SCHEMA)

reports = Table(
    "reports",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("idempotency_key", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("dsa_category", Text, nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="received"),
    Column("payload", JSONB, nullable=False),
    UniqueConstraint("client_id", "idempotency_key", name="uq_reports_client_idempotency_key"),
    Index("ix_reports_subject", "subject_id"),
    Index("ix_reports_received_at", "received_at"),
)

api_keys = api_keys_table(metadata)
