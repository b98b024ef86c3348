"""Intake's tables (schema ``intake``).

``reports`` holds every accepted notice, with the notifier's name and email (which never leave
intake) and the hash of the notice its Idempotency-Key was first used with. ``report_progress``
holds where each report is downstream, fed from the classifier, router and enforcement topics.
``trusted_flaggers``, ``reporter_standing`` and ``misuse_events`` serve DSA Art. 22 and 23;
``authorities`` holds the clients and keys whose notices are orders.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.apikeys import api_keys_table
from shared.db import processed_events_table

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
    Column("reporter_id", Text),
    Column("reason_code", Text),
    Column("notifier_name", Text, comment="personal data: never published"),
    Column("notifier_email", Text, comment="personal data: never published"),
    Column("anonymous", Boolean, nullable=False, server_default="true"),
    Column("trusted_flagger_id", Text),
    Column("standing", Text, comment="misuse standing at receipt: warned, held or exempt"),
    Column("held_until", DateTime(timezone=True)),
    Column(
        "request_hash",
        Text,
        comment="SHA-256 of the canonical notice; a reused Idempotency-Key must match it",
    ),
    Column("authority_id", Text, comment="the registered authority of an order"),
    UniqueConstraint("client_id", "idempotency_key", name="uq_reports_client_idempotency_key"),
    Index("ix_reports_subject", "subject_id"),
    Index("ix_reports_received_at", "received_at"),
    Index("ix_reports_reporter", "client_id", "reporter_id", "received_at"),
)

report_progress = Table(
    "report_progress",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False),
    Column("status_rank", SmallInteger, nullable=False),
    Column("queue", Text),
    Column("case_id", UUID(as_uuid=True)),
    Column("outcome", JSONB),
    Column("manifestly_unfounded", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

trusted_flaggers = Table(
    "trusted_flaggers",
    metadata,
    Column("flagger_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("client_id", Text, comment="notices from this client are the flagger's"),
    Column("key_id", Text, comment="or only those sent with this API key"),
    Column("policy_areas", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("removed_at", DateTime(timezone=True)),
)

authorities = Table(
    "authorities",
    metadata,
    Column("authority_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("client_id", Text, comment="notices from this client are the authority's"),
    Column("key_id", Text, comment="or only those sent with this API key"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("removed_at", DateTime(timezone=True)),
    Column(
        "kind",
        Text,
        nullable=False,
        server_default="legal_order",
        comment="legal_order | law_enforcement | regulator | advertiser",
    ),
)

reporter_standing = Table(
    "reporter_standing",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("reporter_id", Text, primary_key=True),
    Column("notices", Integer, nullable=False, server_default="0"),
    Column("unfounded", Integer, nullable=False, server_default="0"),
    Column("warned_at", DateTime(timezone=True)),
    Column("held_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

misuse_events = Table(
    "misuse_events",
    metadata,
    Column("event_id", BigInteger, Identity(), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("reporter_id", Text, nullable=False),
    Column("kind", Text, nullable=False, comment="warning or suspension"),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True)),
    Column("notices", Integer, nullable=False),
    Column("unfounded", Integer, nullable=False),
    Index("ix_misuse_events_client_at", "client_id", "at"),
)

api_keys = api_keys_table(metadata)
processed_events = processed_events_table(metadata)
