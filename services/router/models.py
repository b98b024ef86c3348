"""Router's tables (schema ``router``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import UUID

from shared.db import processed_events_table

SCHEMA = "router"
metadata = MetaData(schema=SCHEMA)

processed_events = processed_events_table(metadata)

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
    Index("ix_routings_queue_deadline", "queue", "deadline"),
)
