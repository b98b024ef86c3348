"""The classifier's tables (schema ``classifier``): hash banks, report records, context, keys."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from shared.apikeys import api_keys_table

SCHEMA = "classifier"
metadata = MetaData(schema=SCHEMA)

hash_banks = Table(
    "hash_banks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("source", Text, nullable=False, comment="who supplied the hashes"),
    Column("policy_area", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("version", Integer, nullable=False, server_default="1", comment="+1 on every change"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

bank_hashes = Table(
    "bank_hashes",
    metadata,
    Column("hash_id", BigInteger, primary_key=True, autoincrement=True),
    Column("bank_name", Text, ForeignKey(f"{SCHEMA}.hash_banks.name"), nullable=False),
    Column("kind", Text, nullable=False, comment="pdq, md5 or sha256"),
    Column("value", Text, nullable=False, comment="lower-case hex"),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("note", Text, nullable=False, server_default=""),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("bank_name", "kind", "value", name="uq_bank_hashes_value"),
)

report_records = Table(
    "report_records",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("reporter_id", Text),
    Column("subject_id", Text, nullable=False),
    Column("owner_account_id", Text),
    Column("policy_area", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("text", Text, nullable=False, server_default="", comment="normalised, bounded"),
    Index("ix_report_records_subject_received", "subject_id", "received_at"),
    Index("ix_report_records_reporter", "reporter_id"),
    Index("ix_report_records_received", "received_at"),
)

report_outcomes = Table(
    "report_outcomes",
    metadata,
    Column("report_id", UUID(as_uuid=True), primary_key=True),
    Column("decision_id", UUID(as_uuid=True), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("action", Text),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

reporter_stats = Table(
    "reporter_stats",
    metadata,
    Column("reporter_id", Text, primary_key=True),
    Column("notices", Integer, nullable=False),
    Column("actioned", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

subject_actions = Table(
    "subject_actions",
    metadata,
    Column("decision_id", UUID(as_uuid=True), primary_key=True),
    Column("subject_id", Text, nullable=False),
    Column("owner_account_id", Text),
    Column("action", Text, nullable=False),
    Column("policy_area", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Index("ix_subject_actions_subject", "subject_id"),
    Index("ix_subject_actions_owner", "owner_account_id"),
)

api_keys = api_keys_table(metadata)
